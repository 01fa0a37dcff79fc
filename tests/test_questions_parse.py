"""Parsing what the teacher wrote: messy lists, evolved questions, the equality verdict."""
import pytest

from imitate.questions.parse import clean_evolved, parse_judgement, parse_list


@pytest.mark.parametrize("text", [
    "1. What is rain?\n2. Why do cats purr?\n3. How far is the Moon?",
    "1) What is rain?\n2) Why do cats purr?\n3) How far is the Moon?",
    "(1) What is rain?\n(2) Why do cats purr?\n(3) How far is the Moon?",
    "- What is rain?\n- Why do cats purr?\n- How far is the Moon?",
    "* What is rain?\n* Why do cats purr?\n* How far is the Moon?",
    "• What is rain?\n• Why do cats purr?\n• How far is the Moon?",
    "Question 1: What is rain?\nQuestion 2: Why do cats purr?\nQuestion 3: How far is the Moon?",
    "Q1. What is rain?\nQ2. Why do cats purr?\nQ3. How far is the Moon?",
    "1. What is rain?\n\n2. Why do cats purr?\n\n\n3. How far is the Moon?",
    "Sure! Here are three new questions:\n\n1. What is rain?\n2. Why do cats purr?\n3. How far is the Moon?",
    "1. What is rain?\n2. Why do cats purr?\n3. How far is the Moon?\n\nThese questions cover weather, animals and space.",
    "## New questions\n1. **What is rain?**\n2. \"Why do cats purr?\"\n3. Question: How far is the Moon?",
    "1.What is rain?\n2.Why do cats purr?\n3.How far is the Moon?",
])
def test_list_shapes(text):
    assert parse_list(text) == ["What is rain?", "Why do cats purr?", "How far is the Moon?"]


def test_korean_lists():
    text = "다음은 새로운 질문입니다:\n1. 비는 왜 내리나요?\n2) 고양이는 왜 가르랑거리나요?\n질문 3: 달까지 거리는 얼마인가요?\n4번. 김치는 어떻게 만드나요?"
    assert parse_list(text) == ["비는 왜 내리나요?", "고양이는 왜 가르랑거리나요?", "달까지 거리는 얼마인가요?",
                                "김치는 어떻게 만드나요?"]


def test_continuation_lines_join_and_label_alone_on_its_line():
    text = "1. Explain how a bill\n   becomes a law.\nQuestion 2:\n\nWhat is entropy?\n\nHope this helps!"
    assert parse_list(text) == ["Explain how a bill becomes a law.", "What is entropy?"]


def test_numbers_that_are_not_markers():
    assert parse_list("1. Is 3.14 close to pi?\n2. Why is -5 less than 2?") == \
        ["Is 3.14 close to pi?", "Why is -5 less than 2?"]


def test_no_markers_falls_back_to_question_lines():
    assert parse_list("Here you go.\nWhat is rain?\nThat was one.\nWhy do cats purr?") == \
        ["What is rain?", "Why do cats purr?"]
    assert parse_list("I cannot think of any.") == []
    assert parse_list("") == []


def test_clean_evolved_strips_the_echoed_label_and_quotes():
    assert clean_evolved('#Rewritten Prompt#: "Explain rain in two sentences."') == "Explain rain in two sentences."
    assert clean_evolved("**Created Prompt:** Why do owls hoot at night?") == "Why do owls hoot at night?"
    assert clean_evolved("Sort these numbers:\n| a | b |\n| 3 | 1 |") == "Sort these numbers:\n| a | b |\n| 3 | 1 |"
    # a copy of prompt words elsewhere is kept, for the copied_prompt rule to see
    assert "given prompt" in clean_evolved("Rewrite the given prompt so it is harder.")


@pytest.mark.parametrize("text,verdict", [("Equal", True), ("Equal.", True), ("Not Equal", False),
                                          ("not equal.", False), ("They are different.", False),
                                          ("Hmm, hard to say.", None), ("", None)])
def test_judgement(text, verdict):
    assert parse_judgement(text) is verdict
