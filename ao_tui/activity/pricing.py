"""An estimated cost for token usage, from a small table of list prices by model family.

Prices are USD per million tokens (input, output). Cache writes cost 1.25x
input (5-minute cache) and cache reads 0.1x input, as Anthropic bills them.
Unknown models are priced as Sonnet: an estimate, shown as one.
"""

from __future__ import annotations

# (substring of the model id, input $/MTok, output $/MTok); first match wins.
PRICES: tuple[tuple[str, float, float], ...] = (
    ("opus-4-5", 5.0, 25.0),
    ("opus-4-6", 5.0, 25.0),
    ("opus-4-7", 5.0, 25.0),
    ("opus-4-8", 5.0, 25.0),
    ("opus", 15.0, 75.0),
    ("haiku-4", 1.0, 5.0),
    ("haiku-3-5", 0.8, 4.0),
    ("3-5-haiku", 0.8, 4.0),
    ("haiku", 0.25, 1.25),
    ("sonnet", 3.0, 15.0),
    # OpenAI (Codex, OpenCode, Aider); cache reads are billed at 0.1x input there too.
    ("gpt-5-mini", 0.25, 2.0),
    ("gpt-5", 1.25, 10.0),
    ("gpt-4.1", 2.0, 8.0),
    ("o3", 2.0, 8.0),
    ("o4-mini", 1.1, 4.4),
    # Google (Gemini CLI)
    ("gemini-2.5-flash", 0.3, 2.5),
    ("gemini-2.5-pro", 1.25, 10.0),
    ("gemini", 1.25, 10.0),
)
DEFAULT = (3.0, 15.0)
CACHE_WRITE = 1.25
CACHE_READ = 0.1


def prices(model: str) -> tuple[float, float]:
    name = model.lower()
    for key, inp, out in PRICES:
        if key in name:
            return inp, out
    return DEFAULT


def cost_usd(model: str, input_tokens: int, output_tokens: int, cache_write: int, cache_read: int) -> float:
    inp, out = prices(model)
    return (
        input_tokens * inp
        + output_tokens * out
        + cache_write * inp * CACHE_WRITE
        + cache_read * inp * CACHE_READ
    ) / 1_000_000
