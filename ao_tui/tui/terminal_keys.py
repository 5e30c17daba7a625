"""What a terminal sends for a key: Textual's key names to the bytes a program in a pty reads."""

from __future__ import annotations

KEY_BYTES: dict[str, bytes] = {
    "enter": b"\r", "tab": b"\t", "shift+tab": b"\x1b[Z", "backspace": b"\x7f", "ctrl+h": b"\x08",
    "escape": b"\x1b", "space": b" ", "ctrl+space": b"\x00", "ctrl+at": b"\x00",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "insert": b"\x1b[2~", "delete": b"\x1b[3~",
    "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~",
    "f1": b"\x1bOP", "f2": b"\x1bOQ", "f3": b"\x1bOR", "f4": b"\x1bOS", "f5": b"\x1b[15~",
    "f6": b"\x1b[17~", "f7": b"\x1b[18~", "f8": b"\x1b[19~", "f9": b"\x1b[20~", "f10": b"\x1b[21~",
    "f11": b"\x1b[23~", "f12": b"\x1b[24~",
    "ctrl+backslash": b"\x1c", "ctrl+right_square_bracket": b"\x1d", "ctrl+circumflex_accent": b"\x1e",
    "ctrl+underscore": b"\x1f", "ctrl+left_square_bracket": b"\x1b",
}
_ARROWS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_MODIFIERS = {"shift": 1, "alt": 2, "ctrl": 4}


def key_to_bytes(key: str, character: str | None = None) -> bytes | None:
    """What a terminal sends for a Textual key (``None`` when it sends nothing)."""
    if key in KEY_BYTES:
        return KEY_BYTES[key]
    *mods, base = key.split("+")
    if mods and base in _ARROWS and all(m in _MODIFIERS for m in mods):
        code = 1 + sum(_MODIFIERS[m] for m in mods)
        return f"\x1b[1;{code}{_ARROWS[base]}".encode()
    if mods == ["ctrl"] and len(base) == 1 and base.isalpha():
        return bytes([ord(base.lower()) & 0x1F])
    if mods and mods[0] == "alt":
        rest = key_to_bytes("+".join([*mods[1:], base]), character)
        return b"\x1b" + rest if rest else None
    if character and character.isprintable():
        return character.encode()
    if not mods and len(base) == 1 and base.isprintable():
        return base.encode()
    return None
