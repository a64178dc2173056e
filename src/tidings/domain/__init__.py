"""The nouns of server-side synchronization and the rules that decide what is tracked.

Pure Python: nothing here performs I/O, reads a clock or imports a third-party library.
"""

from __future__ import annotations
