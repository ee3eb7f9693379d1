"""The money math: numba kernels, arrays in and arrays out. Imports only numpy and numba."""

from pathlib import Path


def kernels_cached() -> bool:
    """Has numba's cache compiled the bar loop here before? (Its index files sit in this
    package's __pycache__; a first run compiles for tens of seconds.)"""
    return any((Path(__file__).parent / "__pycache__").glob("kernel.account_nb-*.nbi"))
