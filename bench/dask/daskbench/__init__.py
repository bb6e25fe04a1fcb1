# SPDX-License-Identifier: MIT
"""The pieces of bench/dask/run.py: data (the matrix and its copies in each format), peers
(how each library reads and writes it under dask), measure (cluster, bytes on the wire,
PSS), report (tables, targets, JSON)."""
