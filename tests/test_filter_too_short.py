import pytest

from imitate.filters.too_short import TooShort

F = TooShort()


def rec(q, a, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


@pytest.mark.parametrize("q,a", [
    ("Explain how a bicycle gear works.", "It changes the ratio."),
    ("Compare Rust and Go for web servers.", "Both are fast."),
    ("Why does ice float on water?", "Because of density."),
    ("Write a limerick about a cat.", "A cat sat."),
    ("인공지능의 장단점을 자세히 설명해 주세요.", "편리합니다."),
    ("¿Por qué llueve?", "Por las nubes."),
])
def test_too_short_for_the_question(q, a):
    drop = F.check(rec(q, a))
    assert drop is not None and drop.code == "words"
    assert "needs" in drop.evidence


def test_step_by_step_system_message_demands_working():
    drop = F.check(rec("What is 17 + 8?", "25.", system="Think step by step and show your work."))
    assert drop and drop.code == "words" and "system message" in drop.evidence
    ok = "Add the ones: 7 + 8 = 15, carry 1. Add the tens: 1 + 1 = 2. So 17 + 8 = 25."
    assert F.check(rec("What is 17 + 8?", ok, system="Think step by step and show your work.")) is None


@pytest.mark.parametrize("q,a", [
    ("What is the capital of Japan?", "Tokyo."),
    ("In one word, what colour is the sky on a clear day?", "Blue"),
    ("How many legs does a spider have? Just the number.", "8"),
    ("Is 7 a prime number? Answer yes or no.", "Yes"),
    ("일본의 수도는 어디인가요? 한 단어로 답하세요.", "도쿄"),
    ("Explain why the sky is blue in one word.", "Scattering"),
    ("How do you say 'cat' in French?", "Chat."),
])
def test_short_answers_that_are_enough(q, a):
    assert F.check(rec(q, a)) is None


def test_korean_is_counted_in_characters():
    long_ko = "빛의 산란 때문입니다. 태양빛이 대기 분자와 부딪히면 파장이 짧은 파란빛이 더 많이 흩어져 하늘 전체에서 보입니다."
    assert F.check(rec("하늘이 파란 이유를 설명해 주세요.", long_ko)) is None
    assert F.thresholds()["explain_words"] == F.explain_words
