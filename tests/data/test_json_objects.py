"""``loads_unique`` reads as ``json.loads`` with its hooks, through one decoder."""

from __future__ import annotations

import json
import threading

import pytest

from tierflow.data.json_objects import (
    RepeatedKey,
    WrittenNumber,
    json_number,
    loads_unique,
    unique_keys,
)

TEXTS = (
    '{"customer_id": "C1", "dest": "100", "items": [{"sku": "TEE", "quantity": 2}]}',
    '[1, 2.5, -0.0, 1e400, "x", null, true, {"a": {"b": []}}]',
    '  {"é": "ü", "n": 12345678901234567890}  ',
    "3.25",
    '"text"',
)


def _reference(text: str | bytes) -> object:
    return json.loads(text, object_pairs_hook=unique_keys, parse_float=json_number)


@pytest.mark.parametrize("text", TEXTS)
def test_reads_as_json_loads_with_its_hooks(text: str) -> None:
    got = loads_unique(text)
    assert got == _reference(text)
    assert repr(got) == repr(_reference(text))


def test_a_number_a_float_cannot_hold_keeps_how_it_was_written() -> None:
    value = loads_unique('{"value": 1e400}')["value"]
    assert isinstance(value, WrittenNumber)
    assert str(value) == "1e400"


def test_a_repeated_key_is_refused() -> None:
    with pytest.raises(RepeatedKey, match="key 'quantity' given twice in one object"):
        loads_unique('{"sku": "TEE", "quantity": 1, "quantity": 9999}')


@pytest.mark.parametrize(
    "text",
    ["\ufeff{}", "", "{", '{"a": 1,}', "[1, 2", "nul", '{"a": 1} x', "NaN x"],
)
def test_bad_text_fails_as_json_loads_fails(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        _reference(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads_unique(text)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


def test_bytes_and_other_types_as_json_loads() -> None:
    assert loads_unique(b'{"a": [1, 2.0]}') == {"a": [1, 2.0]}  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be str, bytes or bytearray, not int"):
        loads_unique(12)  # type: ignore[arg-type]


def test_one_decoder_serves_threads_at_once() -> None:
    """The decoder is shared (building one per call was most of a small
    body's parse): threads reading at once each get their own value."""
    texts = [f'{{"k{i}": {i}, "items": [{{"sku": "S{i}"}}]}}' for i in range(50)]
    wrong: list[int] = []

    def read(i: int) -> None:
        for _ in range(200):
            if loads_unique(texts[i]) != {f"k{i}": i, "items": [{"sku": f"S{i}"}]}:
                wrong.append(i)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
