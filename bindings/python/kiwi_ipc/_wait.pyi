# Stub for kiwi_ipc._wait (the public names are re-exported by kiwi_ipc).
from typing import Iterable, List, Optional, TypeVar

_W = TypeVar("_W")

POLLIN: int
POLLOUT: int

class BufferTooShortError(ValueError):
    size: int
    capacity: int
    def __init__(self, size: int, capacity: int) -> None: ...

def wait(objects: Iterable[_W], timeout: Optional[float] = None) -> List[_W]: ...
def _too_short(size: int, capacity: int) -> BufferTooShortError: ...
