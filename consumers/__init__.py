# Some consumers modules run compiled (mypyc): the stream package's guard against stale
# compiled code (stream/_compiled.py) must run before any of them is imported.
import stream  # noqa: F401
