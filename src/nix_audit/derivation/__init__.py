"""derivation stage."""
