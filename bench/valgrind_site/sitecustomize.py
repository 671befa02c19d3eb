"""Only for `rasa run` under valgrind (bench/instructions.py): scipy.stats' boost extension
fails to initialise there (SystemError), and the example bot never calls it. Each of its
modules is replaced by one whose functions raise, so a call would show, not pass silently.
"""

import sys
import types
from typing import Any, Callable

_BOOST = "scipy.stats._boost"
_UFUNCS = ("beta", "binom", "nbinom", "hypergeom", "ncf", "ncx2", "nct", "skewnorm", "invgauss")


class _Absent(types.ModuleType):
    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)

        def absent(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"{self.__name__}.{name} is not available under valgrind")

        return absent


for _name in (_BOOST, *(f"{_BOOST}.{ufunc}_ufunc" for ufunc in _UFUNCS)):
    sys.modules[_name] = _Absent(_name)
