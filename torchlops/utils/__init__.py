"""Utilities: dot test, argument checks, typing aliases, the testing battery."""

from torchlops.utils import checks, testing
from torchlops.utils.dottest import dottest

__all__ = ["dottest", "checks", "testing"]
