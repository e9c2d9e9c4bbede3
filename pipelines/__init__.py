"""Jobs, the one Definitions object, and the run gateway."""
