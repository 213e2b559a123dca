"""A socket frame read into one typed action (the socket itself: test_consumers.py)."""

from __future__ import annotations

import pytest

from conversations.socket_actions import (
    SYNC_MAX_IDS,
    ActionError,
    Branch,
    Compare,
    Keep,
    Send,
    Stop,
    Sync,
    action_parse,
)


def test_a_frame_without_an_action_sends_its_message():
    assert action_parse({"message": "Hi"}) == Send(content="Hi")


def test_a_send_naming_models_is_a_comparison_and_one_checked_box_is_a_list():
    action = action_parse({"message": "Hi", "compare_models": "fake", "blind": "on"})

    assert action == Compare(content="Hi", model_ids=["fake"], blind=True)


@pytest.mark.parametrize("step, read", [("1", 1), (" -1 ", -1), (-1, -1), (2, 0), (True, 0)])
def test_a_branch_step_is_one_forward_or_back_else_nothing(step, read):
    assert action_parse({"action": "branch", "message_id": "7", "step": step}) == Branch(
        message_id=7, step=read
    )


def test_an_id_that_is_not_one_is_refused_with_the_actions_sentence():
    with pytest.raises(ActionError, match="Nothing to stop."):
        action_parse({"action": "stop", "message_id": "1e3"})
    assert action_parse({"action": "stop", "message_id": 3}) == Stop(message_id=3)


def test_keep_reads_the_answer_only_once_the_comparison_is_found():
    assert action_parse({"action": "keep", "comparison_id": 2, "message_id": "x"}) == Keep(
        comparison_id=2, message_id="x"
    )


def test_sync_keeps_the_valid_ids_of_a_bounded_list():
    ids = ["1", "no", 2, *range(3, 100)]

    assert action_parse({"action": "sync", "message_ids": ids}) == Sync(
        message_ids=[1, 2, *range(3, SYNC_MAX_IDS)]
    )
    assert action_parse({"action": "sync", "message_ids": "1"}) == Sync(message_ids=[])


def test_an_unknown_action_is_named_in_the_refusal():
    with pytest.raises(ActionError, match="Unknown action: dance"):
        action_parse({"action": "dance"})
