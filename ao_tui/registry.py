"""Finding plugins: the entry-point group ``ao_tui.plugins``.

Entry point names are ``"<slot>.<name>"``; a third party adds one with
``pip install`` and nothing else.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ao_tui.errors import PluginError
from ao_tui.slots import SLOTS, Plugin, PluginContext, interface

GROUP = "ao_tui.plugins"


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, dict[str, EntryPoint]]:
    found: dict[str, dict[str, EntryPoint]] = {slot: {} for slot in SLOTS}
    for ep in entry_points(group=GROUP):
        slot, _, name = ep.name.partition(".")
        if slot in found and name:
            found[slot][name] = ep
    return found


def available() -> dict[str, dict[str, EntryPoint]]:
    """Every installed plugin, by slot then name."""
    return _entry_points()


def load(slot: str, name: str) -> type[Plugin]:
    if slot not in SLOTS:
        raise PluginError(f"unknown plugin slot {slot!r}; slots: {', '.join(SLOTS)}")
    eps = _entry_points()[slot]
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"unknown {slot} plugin {name!r}; installed: {known}")
    try:
        cls = eps[name].load()
    except Exception as exc:  # a broken third-party plugin must not take ao down
        raise PluginError(f"{slot} plugin {name!r} failed to load: {exc}") from exc
    base = interface(slot)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"{slot} plugin {name!r} ({eps[name].value}) does not subclass "
                          f"{base.__module__}.{base.__qualname__}")
    cls.name = name
    return cls


def create(slot: str, name: str, context: PluginContext, **options: Any) -> Any:
    cls = load(slot, name)
    if options:
        context = PluginContext(
            ao_home=context.ao_home,
            tmux_socket=context.tmux_socket,
            project=context.project,
            project_config=context.project_config,
            options={**context.options, **options},
        )
    return cls(context)


def options_schemas(slots: tuple[str, ...] = SLOTS) -> dict[str, dict[str, Any]]:
    """JSON Schema for each slot's config value: a plugin's bare name, or a mapping of ``plugin``
    and that plugin's options (from its ``Options``; any keys for a plugin that declares none).

    Returns ``{"$defs": {...}, "slots": {slot: schema}}``; a plugin that fails to load is left out.
    """
    defs: dict[str, Any] = {}
    by_slot: dict[str, Any] = {}
    for slot in slots:
        names = sorted(_entry_points()[slot])
        choices: list[dict[str, Any]] = [{"type": "string", "enum": names}] if names else []
        for name in names:
            try:
                model = load(slot, name).Options
            except PluginError:
                continue
            schema: dict[str, Any] = {"type": "object", "additionalProperties": True, "properties": {}}
            if model is not None:
                schema = model.model_json_schema(ref_template="#/$defs/{model}")
                defs.update(schema.pop("$defs", {}))
                schema["additionalProperties"] = False
            schema["title"] = f"{slot} {name}"
            schema["properties"] = {"plugin": {"const": name}, **schema.get("properties", {})}
            schema["required"] = ["plugin", *schema.get("required", [])]
            defs[f"{slot}.{name}"] = schema
            choices.append({"$ref": f"#/$defs/{slot}.{name}"})
        by_slot[slot] = {"anyOf": choices} if choices else {"type": ["string", "object"]}
    return {"$defs": defs, "slots": by_slot}
