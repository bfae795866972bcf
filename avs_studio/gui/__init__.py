"""The PySide6 face of AVS Studio: thin widgets over the core's objects."""
