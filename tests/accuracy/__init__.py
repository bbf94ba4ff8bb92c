"""The labelled accuracy set for the matcher (issue #4) and its loader."""
