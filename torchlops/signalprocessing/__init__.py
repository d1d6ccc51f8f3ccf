"""Signal-processing operators (PyLops ``pylops.signalprocessing`` names)."""
