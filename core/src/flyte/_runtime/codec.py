"""Values at task boundaries: validated against type hints, encoded for the journal, hashed.

Primitive types take a fast path (no pydantic); everything else goes through a cached pydantic
``TypeAdapter``; types pydantic cannot describe fall back to cloudpickle with a warning.
Hashes are over canonical JSON (sorted keys), with ``File``/``Dir`` replaced by their content hash so
the same content hits the cache from any path.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flyte.errors import NonRecoverableError, RuntimeDataValidationError

_PRIMS: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    str: (str,),
    bool: (bool,),
}
JSON_TAG = b"J"
PICKLE_TAG = b"P"
BYTES_TAG = b"B"
REF_TAG = b"R"


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_STORE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(obj: Any) -> str:
    """Canonical JSON (sorted keys): for hashes only, never for a stored value."""
    return _ENCODER.encode(obj)


def _store_dumps(obj: Any) -> str:
    """JSON that keeps a dict's key order: what is stored, so a value comes back as produced."""
    return _STORE_ENCODER.encode(obj)


def _reused_encoder(sort_keys: bool) -> Any:
    """The C encoder ``json`` builds on every ``encode`` call, built once (issue 20: building it was
    most of the cost of encoding a small value). No circular-reference markers: only for primitives
    and flat dicts of them, which cannot hold a cycle. Same output as ``_dumps``/``_store_dumps``."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    return make(
        None, _STORE_ENCODER.default, json.encoder.encode_basestring, None, ":", ",", sort_keys, False, True
    )


_PRIM_STORE = _reused_encoder(False)
_PRIM_CANON = _reused_encoder(True)


def _prim_dumps(obj: Any, canonical: bool = False) -> str:
    """JSON of a primitive, or of a dict of primitives (a task's all-primitive inputs)."""
    enc = _PRIM_CANON if canonical else _PRIM_STORE
    if enc is None:
        return _dumps(obj) if canonical else _store_dumps(obj)
    return "".join(enc(obj, 0))


BIG_TEXT = 1 << 20
"""A str at least this long is written into JSON without the encoder's scan when it needs no
escape (issue 20: a 50 MB text passed to a child went through JSON encoding twice)."""
_CONTROL = bytes(range(32))
_ESCAPED = _CONTROL + b'"\\'
"""Every ASCII byte JSON escapes: ``TextParts.scan`` finds them in the pass it makes anyway (issue
20: two more searches of a 50 MB text, for the quote and the backslash, were ~6 ms)."""
_CHUNK = 1 << 20


def _plain_text(value: Any) -> bytes | None:
    """UTF-8 of a long str that JSON writes as is (no quote, backslash or control character), else
    ``None``. One encoding; the control-character check runs over 1 MiB slices (cache-sized)."""
    if value.__class__ is not str or len(value) < BIG_TEXT or '"' in value or "\\" in value:
        return None
    data = value.encode()
    view = memoryview(data)
    for i in range(0, len(data), _CHUNK):
        part = view[i : i + _CHUNK].tobytes()
        if len(part.translate(None, _CONTROL)) != len(part):
            return None
    return data


class TextParts:
    """The stored JSON of a primitive value holding long ASCII text, not joined (issue 20): bytes
    pieces as they are and each long text UTF-8-encoded 1 MiB at a time whenever it is read, so a
    50 MB value is hashed and written to the store without a 50 MB copy (twice: encoded, joined).
    Only for a long ``str.isascii()`` text (its byte length is its length) that ``scan`` found plain.
    Built by the controller for the values it stores itself; ``bytes(parts)`` joins them."""

    __slots__ = ("nbytes", "pieces")

    def __init__(self, pieces: list[bytes | str]) -> None:
        self.pieces = pieces
        self.nbytes = sum(len(p) for p in pieces)

    def __len__(self) -> int:
        return self.nbytes

    def chunks(self) -> Iterator[bytes]:
        for p in self.pieces:
            if p.__class__ is str:
                for i in range(0, len(p), _CHUNK):
                    yield p[i : i + _CHUNK].encode()  # type: ignore[union-attr]
            else:
                yield p  # type: ignore[misc]

    def __bytes__(self) -> bytes:
        return b"".join(self.chunks())

    def texts(self) -> tuple[str, ...]:
        """The long texts among the pieces (what ``scan`` checked)."""
        return tuple(p for p in self.pieces if p.__class__ is str)  # type: ignore[misc]

    def scan(self, digest_after: int | None = None, plain: tuple[str, ...] = ()) -> tuple[bool, str]:
        """(whether every text is plain: no control character, quote or backslash, so JSON writes
        it as is; the digest of the bytes after the first ``digest_after`` when asked), in one pass
        over the text.

        ``plain``: texts already found plain (the very objects: a ``str`` cannot change), not read
        again when no digest is asked (issue 20: a child returning the text it was given)."""
        h = hashlib.blake2b(digest_size=16) if digest_after is not None else None
        skip = digest_after or 0
        for p in self.pieces:
            if p.__class__ is str:
                if h is None and any(p is q for q in plain):
                    continue
                for i in range(0, len(p), _CHUNK):
                    part = p[i : i + _CHUNK].encode()  # type: ignore[union-attr]
                    if len(part.translate(None, _ESCAPED)) != len(part):
                        return False, ""
                    if h is not None:
                        h.update(part)
            elif h is not None:
                h.update(memoryview(p)[skip:])  # type: ignore[arg-type]
                skip = max(0, skip - len(p))
        return True, h.hexdigest() if h is not None else ""


def _lazy_text(value: Any) -> bool:
    """A long ASCII str (constant time): whether JSON writes it as is is for ``scan`` to say."""
    return value.__class__ is str and len(value) >= BIG_TEXT and value.isascii()


def prim_json_parts(obj: Any) -> TextParts | None:
    """:class:`TextParts` of a long ASCII text or a dict holding one (unscanned), else ``None``."""
    if obj.__class__ is dict:
        lazy = [_lazy_text(v) for v in obj.values()]
        if not any(lazy):
            return None
        pieces: list[bytes | str] = [JSON_TAG + b"{"]
        for i, ((key, value), is_lazy) in enumerate(zip(obj.items(), lazy)):
            head = (b"," if i else b"") + _prim_dumps(key).encode() + b":"
            if is_lazy:
                pieces += [head + b'"', value, b'"']
            else:
                pieces.append(head + _prim_dumps(value).encode())
        pieces.append(b"}")
        return TextParts(pieces)
    if _lazy_text(obj):
        return TextParts([JSON_TAG + b'"', obj, b'"'])
    return None


def _has_long_text(obj: Any) -> bool:
    if obj.__class__ is dict:
        for v in obj.values():
            if v.__class__ is str and len(v) >= BIG_TEXT:
                return True
        return False
    return obj.__class__ is str and len(obj) >= BIG_TEXT


def prim_json_lazy(obj: Any, plain: tuple[str, ...] = ()) -> bytes | TextParts:
    """:func:`prim_json_bytes`, or :class:`TextParts` when it holds a long plain ASCII text (for the
    controller, which stores such a value itself: not copied at all). ``plain``: see ``scan``."""
    if not _has_long_text(obj):  # the common case: small values
        return JSON_TAG + _prim_dumps(obj).encode()
    parts = prim_json_parts(obj)
    if parts is not None and parts.scan(plain=plain)[0]:
        return parts
    return prim_json_bytes(obj)


def prim_json_bytes(obj: Any) -> bytes:
    """``JSON_TAG`` + the stored JSON of a primitive or of a dict of them, as bytes: the same bytes
    as ``_prim_dumps(obj).encode()``, with a long plain str copied once instead of encoded twice."""
    if not _has_long_text(obj):  # the common case: small values
        return JSON_TAG + _prim_dumps(obj).encode()
    if obj.__class__ is dict:
        big = [_plain_text(v) for v in obj.values()]
        if not any(b is not None for b in big):
            return JSON_TAG + _prim_dumps(obj).encode()
        parts = [JSON_TAG, b"{"]
        for i, ((key, value), raw) in enumerate(zip(obj.items(), big)):
            if i:
                parts.append(b",")
            parts += [_prim_dumps(key).encode(), b":"]
            parts += [b'"', raw, b'"'] if raw is not None else [_prim_dumps(value).encode()]
        parts.append(b"}")
        return b"".join(parts)
    raw = _plain_text(obj)
    if raw is None:
        return JSON_TAG + _prim_dumps(obj).encode()
    return b"".join((JSON_TAG, b'"', raw, b'"'))


def _same_pickle(a: Any, b: Any) -> bool:
    """Whether two values pickle to the same bytes (a stored form is exact only when they do)."""
    import pickle

    try:
        return pickle.dumps(a, protocol=5) == pickle.dumps(b, protocol=5)
    except Exception:
        try:
            return _pickle(a) == _pickle(b)
        except Exception:
            return False


_blake = functools.partial(hashlib.blake2b, digest_size=16)
"""The hash behind every digest (inputs, action IDs, cache keys): 16-byte blake2b."""
_BLAKE16 = hashlib.blake2b(digest_size=16)
"""An empty ``_blake`` state, never updated: ``_BLAKE16.copy()`` then ``update`` gives the same digest
as ``_blake(data)`` without the constructor's keyword parsing (issue 20: ~100 ns of a ~300 ns digest,
three digests per call)."""


def hex16(data: bytes | memoryview) -> str:
    """``_blake(data).hexdigest()``, through a copy of the empty state."""
    h = _BLAKE16.copy()
    h.update(data)
    return h.hexdigest()


_JSON_STR = json.encoder.encode_basestring  # the str encoder _PRIM_STORE uses (ensure_ascii=False)
_SCALARS = frozenset((int, float, bool, type(None)))


def _in_order(values: Mapping[str, Any]) -> bool:
    keys = list(values)
    return keys == sorted(keys)


def _encode_small(values: Mapping[str, Any]) -> tuple[bytes, str]:
    """Stored JSON and hash of all-primitive inputs without a long text: one encoding, one digest
    (when the keys are in order the stored form is the canonical one)."""
    body = _prim_dumps(values).encode()
    if len(values) == 1 or _in_order(values):
        return JSON_TAG + body, hex16(body)
    return JSON_TAG + body, hex16(_prim_dumps(values, canonical=True).encode())


def digest(text: str | bytes | memoryview) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ValueCodec:
    """Validation, JSON form and decoding for one type hint."""

    def __init__(self, hint: Any) -> None:
        self.hint = hint
        try:
            self.prim = _PRIMS.get(hint)
        except TypeError:  # Annotated[..., {columns}]: unhashable metadata
            self.prim = None
        self.adapter: Any = None
        self.pickled = False
        self.offloaded = False
        self.has_set = False
        self.transformer: Any = None
        if self.prim is None and hint not in (None, type(None), bytes):
            from flyte._runtime.types import find_transformer

            self.transformer = find_transformer(hint)
            if self.transformer is None:
                self._build_adapter()
            else:
                self.offloaded = True

    def _build_adapter(self) -> None:
        from pydantic import TypeAdapter

        from flyte.io import Dir, File

        text = repr(self.hint)
        self.has_set = "set" in text.lower()  # may hold sets: their JSON lists get a canonical order
        self.offloaded = self.hint in (File, Dir) or "flyte.io" in text or _mentions_io(self.hint, set())
        if self.hint is Any:
            return
        try:
            self.adapter = TypeAdapter(self.hint)
        except Exception:
            warnings.warn(
                f"Type {self.hint!r} has no JSON schema; its values are passed with cloudpickle",
                stacklevel=4,
            )
            self.pickled = True

    # -- validation --------------------------------------------------------------------------
    def validate(self, value: Any) -> None:
        if self.prim is not None:
            if type(value) in self.prim or (isinstance(value, self.prim) and not isinstance(value, bool)):
                return
            if self.hint is bool and isinstance(value, bool):
                return
            raise ValueError(f"expected {self.hint.__name__}, got {type(value).__name__} {_short(value)}")
        if self.hint in (None, type(None)):
            if value is not None:
                raise ValueError(f"expected no value (None), got {type(value).__name__}")
            return
        if self.hint is bytes:
            if not isinstance(value, (bytes, bytearray)):
                raise ValueError(f"expected bytes, got {type(value).__name__}")
            return
        if self.transformer is not None:
            self.transformer.validate(value)
        elif self.adapter is not None:
            self.adapter.validate_python(value, strict=True)

    # -- encoding ----------------------------------------------------------------------------
    def to_jsonable(self, value: Any) -> Any:
        """The JSON form of a value, or raise TypeError when it has none."""
        if self.prim is not None or value is None:
            return value
        if self.transformer is not None:
            return {"__flyte_ref__": self.transformer.type_path, "ref": self.transformer.to_json(value)}
        if self.adapter is not None:
            data = self.adapter.dump_python(value, mode="json")
            return _sort_sets(value, data) if self.has_set else data
        if self.pickled:
            raise TypeError("pickled")
        # Any: only values that come back from JSON as they are (no tuples, no int keys, no subclasses)
        if not _plain_json(value):
            raise TypeError("not plain JSON")
        return value

    def from_jsonable(self, data: Any) -> Any:
        if self.transformer is not None:
            return self.transformer.from_json(data["ref"], self.hint)
        if self.adapter is not None:
            return self.adapter.validate_python(data)
        return data

    def hash_form(self, value: Any) -> Any:
        if self.transformer is not None:
            hash_json = getattr(self.transformer, "hash_json", None)
            return self.to_jsonable(value) if hash_json is None else hash_json(value)
        if self.offloaded:
            return _content_form(value)
        return self.to_jsonable(value)


def _sort_sets(value: Any, data: Any) -> Any:
    """``data`` (the JSON form of ``value``) with the lists that came from sets sorted.

    A set's iteration order depends on string hashing, which differs between processes; sorted,
    the same set always has the same encoding, hence the same action ID and cache key.
    """
    import dataclasses

    if isinstance(value, (set, frozenset)) and isinstance(data, list) and len(value) == len(data):
        return sorted((_sort_sets(v, d) for v, d in zip(value, data)), key=_dumps)
    if isinstance(value, Mapping) and isinstance(data, dict) and len(value) == len(data):
        return {k: _sort_sets(v, d) for (k, d), v in zip(data.items(), value.values())}
    if isinstance(value, (list, tuple)) and isinstance(data, list) and len(value) == len(data):
        return [_sort_sets(v, d) for v, d in zip(value, data)]
    if isinstance(data, dict) and (
        (dataclasses.is_dataclass(value) and not isinstance(value, type)) or hasattr(value, "model_fields")
    ):
        return {k: _sort_sets(getattr(value, k), d) if hasattr(value, k) else d for k, d in data.items()}
    return data


def _plain_json(value: Any) -> bool:
    t = type(value)
    if value is None or t is str or t is int or t is float or t is bool:
        return True
    if t is list:
        return all(_plain_json(v) for v in value)
    if t is dict:
        return all(type(k) is str and _plain_json(v) for k, v in value.items())
    return False


def _mentions_io(hint: Any, seen: set[int]) -> bool:
    """True when a type holds File/Dir somewhere (containers, dataclass or pydantic fields)."""
    import dataclasses
    import typing

    from flyte.io import Dir, File

    if id(hint) in seen:
        return False
    seen.add(id(hint))
    if hint in (File, Dir) or typing.get_origin(hint) in (File, Dir):
        return True
    if any(_mentions_io(a, seen) for a in typing.get_args(hint)):
        return True
    if not isinstance(hint, type):
        return False
    fields: list[Any] = []
    if dataclasses.is_dataclass(hint):
        try:
            fields = list(typing.get_type_hints(hint).values())
        except Exception:
            fields = [f.type for f in dataclasses.fields(hint)]
    elif hasattr(hint, "model_fields"):
        fields = [f.annotation for f in getattr(hint, "model_fields", {}).values()]
    return any(_mentions_io(f, seen) for f in fields)


def _content_form(value: Any) -> Any:
    """Replace File/Dir by their content identity (recursively in containers and records)."""
    import dataclasses

    from flyte.io import Dir, File

    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, (File, Dir)):
        return {"__content__": value.content_key()}
    if isinstance(value, Mapping):
        return {str(k): _content_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_content_form(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _content_form(getattr(value, f.name)) for f in dataclasses.fields(value)}
    model_fields = getattr(type(value), "model_fields", None)
    if isinstance(model_fields, dict):
        return {k: _content_form(getattr(value, k)) for k in model_fields}
    from pydantic import TypeAdapter

    return TypeAdapter(type(value)).dump_python(value, mode="json")


def _short(value: Any) -> str:
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


DECODED_BYTES = 256
"""Largest stored output :meth:`InterfaceCodec.decode_cached` keeps decoded."""
DECODED_ENTRIES = 1024
"""Decoded outputs kept per task (all dropped when full)."""
_NOTHING = object()


class InterfaceCodec:
    """Codecs for a task's inputs and its output, built once per task."""

    def __init__(self, task_name: str, inputs: Mapping[str, tuple[Any, Any]], output: Any) -> None:
        self.task_name = task_name
        self.inputs = {name: ValueCodec(hint) for name, (hint, _) in inputs.items()}
        self.output = ValueCodec(output)
        self.all_prim = all(c.prim is not None for c in self.inputs.values())
        self.float_inputs = [name for name, c in self.inputs.items() if c.hint is float]
        self.any_ref = any(c.offloaded and c.transformer is None for c in self.inputs.values())
        # A task with one primitive input (the usual shape): its stored inputs are '{"name":' + the
        # value's JSON + '}', made by encode_one without binding, validating or the encoder.
        self.one_name: str | None = None
        self.one_hint: Any = None
        self.one_head = ""
        if len(self.inputs) == 1 and self.all_prim:
            ((self.one_name, one),) = self.inputs.items()
            self.one_hint = one.hint
            self.one_head = "{" + _JSON_STR(self.one_name) + ":"
        # Outputs decoded from cache entries, by their stored bytes: primitives only (immutable)
        self.decoded: dict[bytes, Any] | None = {} if self.output.prim is not None else None

    def encode_one(self, value: Any) -> tuple[dict[str, Any], bytes, str] | None:
        """(inputs, stored bytes, hash) of a call giving a one-input task its primitive input by
        position, the same as ``bind``, ``validate_inputs`` and ``encode_inputs_lazy`` give, without
        them (issue 20). ``None`` where those would do more: a value to coerce (an int for a float)
        or to reject, a subclass, a long text, a float that is not finite."""
        cls = value.__class__
        if cls is not self.one_hint or self.one_name is None:
            return None
        if cls is int:
            text = int.__repr__(value)
        elif cls is str:
            if len(value) >= BIG_TEXT:
                return None
            text = _JSON_STR(value)
        elif cls is float:
            if value - value != 0.0:  # inf or nan: JSON writes them by name
                return None
            text = float.__repr__(value)
        elif cls is bool:
            text = "true" if value else "false"
        else:
            return None
        body = (self.one_head + text + "}").encode()
        h = _BLAKE16.copy()  # hex16(body), inlined
        h.update(body)
        return {self.one_name: value}, JSON_TAG + body, h.hexdigest()

    def validate_inputs(self, values: dict[str, Any], check_paths: bool = True) -> None:
        """Check values against the hints; an int given for a float input becomes a float.

        ``check_paths=False`` leaves the File/Dir existence check to :meth:`check_paths_exist`, for a
        caller that first looks for a recorded outcome (a replayed action reads no input)."""
        if self.all_prim:  # the common case: every value of an accepted type (no coercion but int->float)
            codecs = self.inputs
            for name, value in values.items():
                if type(value) not in codecs[name].prim:  # type: ignore[operator]
                    break
            else:
                for name in self.float_inputs:
                    if type(values.get(name)) is int:
                        values[name] = float(values[name])
                return
        for name, value in values.items():
            try:
                self.inputs[name].validate(value)
                coerce = getattr(self.inputs[name].transformer, "coerce", None)
                if coerce is not None:  # e.g. a flyte.io.DataFrame given to a pd.DataFrame input
                    values[name] = coerce(value, self.inputs[name].hint)
            except Exception as e:
                raise RuntimeDataValidationError(name, _clean(e), self.task_name) from None
        if check_paths:
            self.check_paths_exist(values)
        for name in self.float_inputs:  # so f(3) and f(3.0) are the same call (IDs, cache keys)
            if type(values.get(name)) is int:
                values[name] = float(values[name])

    def check_paths_exist(self, values: Mapping[str, Any]) -> None:
        """A File/Dir input naming nothing fails here, not later as an empty read."""
        if not self.any_ref:
            return
        refs = {
            n: v for n, v in values.items() if self.inputs[n].offloaded and self.inputs[n].transformer is None
        }
        if refs:
            from flyte.io._common import check_inputs_exist

            check_inputs_exist(self.task_name, refs)

    def encode_inputs(self, values: Mapping[str, Any]) -> tuple[bytes, str]:
        """Encoded inputs and their canonical hash."""
        if self.all_prim:
            if not _has_long_text(values):
                return _encode_small(values)
            data = prim_json_bytes(values)
            keys = list(values)
            if keys == sorted(keys):  # the stored form is the canonical one: hash it, no second encoding
                return data, digest(memoryview(data)[1:])
            return data, digest(_prim_dumps(values, canonical=True))
        try:
            form = {k: self.inputs[k].to_jsonable(v) for k, v in values.items()}
            text = _dumps(form)
            data = JSON_TAG + _store_dumps(form).encode()
        except (TypeError, ValueError):
            data = PICKLE_TAG + sign_pickle(_pickle(dict(values)))
            text = ""
        if any(c.offloaded for c in self.inputs.values()) or not text:
            hashed = {k: self._hash_form(k, v) for k, v in values.items()}
            return data, digest(_dumps(hashed))
        return data, digest(text)

    def encode_inputs_lazy(self, values: Mapping[str, Any]) -> tuple[bytes | TextParts, str]:
        """:meth:`encode_inputs` for the controller: inputs holding a long plain ASCII text come back
        as :class:`TextParts` (same bytes when joined, same hash), checked and hashed in one pass."""
        if self.all_prim:
            if not _has_long_text(values):  # the common case
                return _encode_small(values)
            keys = list(values)
            parts = prim_json_parts(values) if keys == sorted(keys) else None
            if parts is not None:
                plain, hashed = parts.scan(digest_after=1)
                if plain:
                    return parts, hashed
        return self.encode_inputs(values)

    def _hash_form(self, name: str, value: Any) -> Any:
        try:
            return self.inputs[name].hash_form(value)
        except (TypeError, ValueError):
            return {"__pickle__": digest(_pickle(value))}

    def decode_inputs(self, data: bytes) -> dict[str, Any]:
        tag, body = data[:1], data[1:]
        if tag == PICKLE_TAG:
            return _unpickle(body)  # type: ignore[no-any-return]
        raw = json.loads(body)
        return {k: self.inputs[k].from_jsonable(v) if k in self.inputs else v for k, v in raw.items()}

    def validate_output(self, value: Any) -> Any:
        """Check the value against the hint; returns it, converted where its transformer converts."""
        out = self.output
        if out.hint is Any or (out.prim is not None and type(value) in out.prim):
            if out.hint is float and value.__class__ is int:
                return float(value)  # as an int given for a float input becomes a float
            return value
        try:
            self.output.validate(value)
            coerce = getattr(self.output.transformer, "coerce", None)
            return value if coerce is None else coerce(value, self.output.hint)
        except Exception as e:
            raise RuntimeDataValidationError("return value", _clean(e), self.task_name) from None

    def encode_output(self, value: Any) -> bytes:
        return encode_value(self.output, value)

    def encode_output_lazy(self, value: Any, plain: tuple[str, ...] = ()) -> bytes | TextParts:
        """:meth:`encode_output`, a long plain ASCII text as :class:`TextParts` (the controller).
        ``plain``: the texts of this action's inputs, already found plain (``TextParts.scan``)."""
        if self.output.prim is not None:
            if value.__class__ is int:  # the encoder writes an exact int as its repr (issue 20)
                return JSON_TAG + int.__repr__(value).encode()
            if value.__class__ in _SCALARS:  # a float, bool or None: what encode_value writes
                return JSON_TAG + _prim_dumps(value).encode()
            if _has_long_text(value):
                return prim_json_lazy(value, plain)
        return encode_value(self.output, value)

    def decode_output(self, data: bytes) -> Any:
        return decode_value(self.output, data)

    def decode_cached(self, data: bytes) -> Any:
        """:meth:`decode_output` of a cache entry's outputs. A small primitive output (an immutable
        value, the same for the same bytes) is kept by its bytes and given again without decoding:
        a task hit many times returns the same few values (issue 20)."""
        memo = self.decoded
        if memo is None or data[:1] != JSON_TAG or len(data) > DECODED_BYTES:
            return decode_value(self.output, data)
        value = memo.get(data, _NOTHING)
        if value is _NOTHING:
            value = decode_value(self.output, data)
            if value.__class__ in _SCALARS or value.__class__ is str:
                if len(memo) >= DECODED_ENTRIES:
                    memo.clear()
                memo[data] = value
        return value


def encode_value(codec: ValueCodec, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)) and codec.hint in (bytes, Any):
        return BYTES_TAG + bytes(value)
    try:
        if codec.prim is not None:
            return prim_json_bytes(value)
        text = _store_dumps(codec.to_jsonable(value))
        # A typed value (dataclass, model, set, tuple...) is stored as JSON only when it comes back
        # exactly (same pickle bytes); otherwise (a model's unset fields, a set's order) it is pickled.
        if codec.adapter is not None and codec.transformer is None:
            if not _same_pickle(codec.from_jsonable(json.loads(text)), value):
                raise ValueError("not exact as JSON")
        return JSON_TAG + text.encode()
    except (TypeError, ValueError):
        return PICKLE_TAG + sign_pickle(_pickle(value))


_SCAN = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json_loads(body: bytes) -> Any:
    """``json.loads`` of stored JSON (what this codec wrote: UTF-8, no surrounding space), straight
    through the C scanner (issue 20: ``loads`` of ``6`` cost more than the rest of a cache hit's
    decoding); anything else takes ``json.loads``, with its errors."""
    text = body.decode()
    try:
        obj, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return obj if end == len(text) else json.loads(text)


def decode_value(codec: ValueCodec, data: bytes) -> Any:
    tag, body = data[:1], data[1:]
    if tag == BYTES_TAG:
        return body
    if tag == PICKLE_TAG:
        return _unpickle(body)
    if codec.prim is not None:
        return _json_loads(body)
    return codec.from_jsonable(json.loads(body))


def _pickle(value: Any) -> bytes:
    """The raw cloudpickle (for hashing, and the body of a signed value: see ``sign_pickle``)."""
    import cloudpickle

    return cloudpickle.dumps(value)  # type: ignore[no-any-return]


def _unpickle(data: bytes) -> Any:
    """Load a pickled value after checking its signature (``UntrustedPickleError`` otherwise)."""
    import pickle

    return pickle.loads(verify_pickle(data))


# ---- signed pickles ---------------------------------------------------------------------------------
# A pickled value runs code when it is loaded, and values live in the journal and in object stores
# that are often shared (a bucket). Every pickle flyte writes is signed with HMAC-SHA256 under a key
# only this user holds, and checked before it is loaded: ``SIG_MAGIC | key id (4) | mac (32) | pickle``.
SIG_MAGIC = b"FSIG1"
_SIG_DOMAIN = b"flyte-pickle-v1\0"
PICKLE_KEY_ENV = "FLYTE_PICKLE_KEY"
PICKLE_KEY_FILE = "pickle.key"
_key_override: bytes | None = None
_key_cache: dict[str, bytes] = {}


class UntrustedPickleError(NonRecoverableError):
    """A pickled value was not signed with this user's key (tampered, unsigned or another key's)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="UntrustedPickle")


def set_pickle_key(key: str | bytes | None) -> None:
    """The signing key from ``flyte.init(pickle_key=...)``/config; ``None`` falls back to env/file."""
    global _key_override
    _key_override = key.encode() if isinstance(key, str) else key


def pickle_key() -> bytes:
    """``flyte.init(pickle_key=)``, else $FLYTE_PICKLE_KEY, else ``$FLYTE_HOME/pickle.key`` (made once,
    0600, 32 random bytes)."""
    if _key_override:
        return _key_override
    env = os.environ.get(PICKLE_KEY_ENV)
    if env:
        return env.encode()
    from flyte._config import get_settings

    home = get_settings().home
    key = _key_cache.get(home)
    if key is None:
        key = _key_cache[home] = _load_or_create_key(os.path.join(home, PICKLE_KEY_FILE))
    return key


def _load_or_create_key(path: str) -> bytes:
    import secrets

    for _ in range(50):
        try:
            with open(path, "rb") as f:
                key = f.read().strip()
            if key:
                if os.stat(path).st_mode & 0o077:
                    warnings.warn(
                        f"{path} (the key that signs pickled values) is readable by other users; "
                        f"run: chmod 600 {path}",
                        stacklevel=3,
                    )
                return key
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # another process is making it
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_hex(32).encode() + b"\n")
            continue
        import time

        time.sleep(0.01)  # made by another process and not written yet
    raise RuntimeError(f"could not read or create the pickle signing key at {path}")


_key_ids: dict[bytes, bytes] = {}
_macs: dict[bytes, Any] = {}


def _key_id(key: bytes) -> bytes:
    kid = _key_ids.get(key)
    if kid is None:  # once per key: a worker signs every small outcome it reports (issue 20)
        kid = _key_ids[key] = hashlib.sha256(b"flyte-pickle-key-id\0" + key).digest()[:4]
    return kid


def _mac(key: bytes, body: bytes) -> bytes:
    proto = _macs.get(key)
    if proto is None:  # the keyed state (key pads and domain hashed) made once per key, then copied
        import hmac

        h = hmac.new(key, _SIG_DOMAIN, hashlib.sha256)
        # OpenSSL's own HMAC object when it backs this one: copied, updated and read in C, without
        # the Python wrapper's methods (issue 20: a worker signs every outcome it reports)
        proto = _macs[key] = getattr(h, "_hmac", None) or h
    h = proto.copy()
    h.update(body)
    return h.digest()  # type: ignore[no-any-return]


def signer(key: bytes) -> Callable[[bytes], bytes]:
    """:func:`sign_pickle` with ``key`` as one function: its head (magic and key ID) and keyed
    state made once (issue 20: a worker signs the outcome record of every action it runs)."""
    head = SIG_MAGIC + _key_id(key)
    _mac(key, b"")  # the keyed state, made once per key
    proto = _macs[key]

    def sign(body: bytes) -> bytes:
        h = proto.copy()
        h.update(body)
        return head + h.digest() + body  # type: ignore[no-any-return]

    return sign


def sign_pickle(body: bytes, key: bytes | None = None) -> bytes:
    """A pickle with its signature in front (what is written to the journal and object stores);
    ``key``: the signing key when the caller holds it (default: :func:`pickle_key`, looked up)."""
    if key is None:
        key = pickle_key()
    return SIG_MAGIC + _key_id(key) + _mac(key, body) + body


def verify_pickle(data: bytes) -> bytes:
    """The pickle inside a signed value, or ``UntrustedPickleError``; nothing is unpickled before."""
    import hmac

    if not data.startswith(SIG_MAGIC):
        raise UntrustedPickleError(
            "Refusing to load a pickled value that is not signed: it was written by an older flyte or by "
            "someone without this user's key, and loading it could run arbitrary code. Re-run the action "
            "that produced it (flyte rerun RUN --no-recover)."
        )
    n = len(SIG_MAGIC)
    kid, mac, body = data[n : n + 4], data[n + 4 : n + 36], data[n + 36 :]
    key = pickle_key()
    if hmac.compare_digest(mac, _mac(key, body)):
        return body
    if kid != _key_id(key):
        raise UntrustedPickleError(
            f"Refusing to load a pickled value signed with another key (key id {kid.hex()}, this "
            f"machine's is {_key_id(key).hex()}). Set {PICKLE_KEY_ENV} (or flyte.init(pickle_key=...)) to "
            "the same secret on every machine that writes or reads this run."
        )
    raise UntrustedPickleError(
        "Refusing to load a pickled value whose signature does not match its content: it was modified "
        "after it was written (tampered with, or corrupted). Loading it could run arbitrary code."
    )


def _clean(e: BaseException) -> str:
    text = str(e)
    if "validation error" in text and "\n" in text:
        lines = [ln for ln in text.splitlines()[1:] if "further information" not in ln]
        return " ".join(ln.strip() for ln in lines)
    return text


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
