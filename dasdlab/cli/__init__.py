"""The ``dasdlab`` command line: parses, calls the library, prints.

Modules here import only typer at the top; the library (numpy, numba) is imported
inside the commands so that ``dasdlab --help`` stays fast.
"""
