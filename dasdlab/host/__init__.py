"""Host software: the programs of the mainframe host that use the storage subsystems (DFSMSdss)."""
