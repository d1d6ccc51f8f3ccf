"""Utilities: dot test, argument checks, typing aliases, the testing battery, wavelets,
tapers, seismic events and convolution matrices."""

from torchlops.utils import checks, seismicevents, signalprocessing, tapers, testing, wavelets
from torchlops.utils.dottest import dottest

__all__ = ["dottest", "checks", "testing", "wavelets", "tapers", "seismicevents", "signalprocessing"]
