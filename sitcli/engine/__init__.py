"""The money math: numba kernels, arrays in and arrays out. Imports only numpy and numba."""
