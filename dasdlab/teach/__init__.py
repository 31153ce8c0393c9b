"""Teaching: per-track maps of copy relationships and the step-wise lab console."""
