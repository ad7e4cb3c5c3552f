"""The network: Magenta's transformer with conditional instance norm, and its self-describing checkpoint."""
