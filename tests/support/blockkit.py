"""A small structural check of Block Kit payloads: the limits Slack enforces that bite in practice."""

from __future__ import annotations

from typing import Any

LIMITS = {"section": 3000, "header": 150, "button": 75, "option": 75, "context": 3000, "hint": 2000,
          "label": 2000, "placeholder": 150, "modal_title": 24, "private_metadata": 3000}
INPUT_ELEMENTS = {"plain_text_input", "number_input", "url_text_input", "static_select"}


def _text(obj: dict) -> str:
    assert obj["type"] in ("plain_text", "mrkdwn"), obj
    assert isinstance(obj["text"], str) and obj["text"], obj
    return obj["text"]


def _check_text(obj: dict, limit: int, where: str) -> None:
    text = _text(obj)
    assert len(text) <= limit, f"{where}: {len(text)} > {limit}"


def check_element(element: dict) -> None:
    kind = element["type"]
    assert len(element.get("action_id", "")) <= 255
    if kind == "button":
        _check_text(element["text"], LIMITS["button"], "button")
        assert element["text"]["type"] == "plain_text"
        assert len(element.get("value", "")) <= 2000
        if "confirm" in element:
            c = element["confirm"]
            _check_text(c["title"], 100, "confirm title")
            _check_text(c["text"], 300, "confirm text")
            _check_text(c["confirm"], 30, "confirm button")
            _check_text(c["deny"], 30, "deny button")
    elif kind == "static_select":
        assert 1 <= len(element["options"]) <= 100
        values = [o["value"] for o in element["options"]]
        assert len(values) == len(set(values))
        for option in element["options"]:
            _check_text(option["text"], LIMITS["option"], "option")
            assert len(option["value"]) <= 150
        if "initial_option" in element:
            assert element["initial_option"] in element["options"]
    elif kind == "number_input":
        assert isinstance(element["is_decimal_allowed"], bool)
        for key in ("min_value", "max_value", "initial_value"):
            if key in element:
                assert isinstance(element[key], str)
                float(element[key])
        if "initial_value" in element:
            value = float(element["initial_value"])
            assert float(element.get("min_value", value)) <= value <= float(element.get("max_value", value))
            if not element["is_decimal_allowed"]:
                assert value.is_integer() and "." not in element["initial_value"]
    elif kind == "plain_text_input":
        limit = element.get("max_length", 3000)
        assert limit <= 3000
        assert len(element.get("initial_value", "")) <= limit
    elif kind == "url_text_input":
        pass
    else:
        raise AssertionError(f"unexpected element {kind}")
    if "placeholder" in element:
        _check_text(element["placeholder"], LIMITS["placeholder"], "placeholder")


def check_blocks(blocks: list[dict], *, max_blocks: int = 50) -> None:
    assert 1 <= len(blocks) <= max_blocks
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), block_ids
    for block in blocks:
        kind = block["type"]
        assert len(block.get("block_id", "")) <= 255
        if kind == "section":
            _check_text(block["text"], LIMITS["section"], "section")
            if "fields" in block:
                assert len(block["fields"]) <= 10
        elif kind == "header":
            _check_text(block["text"], LIMITS["header"], "header")
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                _check_text(element, LIMITS["context"], "context")
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            ids = [e["action_id"] for e in block["elements"]]
            assert len(ids) == len(set(ids))
            for element in block["elements"]:
                check_element(element)
        elif kind == "input":
            _check_text(block["label"], LIMITS["label"], "label")
            assert block["label"]["type"] == "plain_text"
            if "hint" in block:
                _check_text(block["hint"], LIMITS["hint"], "hint")
            assert block["element"]["type"] in INPUT_ELEMENTS
            check_element(block["element"])
        else:
            raise AssertionError(f"unexpected block {kind}")


def check_modal(view: dict[str, Any]) -> None:
    assert view["type"] == "modal"
    for key in ("title", "submit", "close"):
        if key in view:
            _check_text(view[key], LIMITS["modal_title"], key)
            assert view[key]["type"] == "plain_text"
    assert len(view.get("private_metadata", "")) <= LIMITS["private_metadata"]
    assert len(view.get("callback_id", "")) <= 255
    if any(b["type"] == "input" for b in view["blocks"]):
        assert "submit" in view
    check_blocks(view["blocks"], max_blocks=100)
