import pytest

from imitate.filters.refusal import Refusal, phrase_regex

F = Refusal()


def rec(q, a, **kw):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], **kw}


@pytest.mark.parametrize("a", [
    "I’m sorry, but I can’t help with planning a birthday party.",
    "I cannot assist with that request.",
    "I'm afraid I can't do that. Please ask something else.",
    "죄송하지만 해당 요청은 도와드릴 수 없습니다.",
    "죄송하지만 그 내용은 제가 답변하기 어렵습니다.",
    "Lo siento, pero no puedo ayudarte con esa receta.",
])
def test_refusals(a):
    drop = F.check(rec("How do I bake bread?", a))
    assert drop is not None and drop.code == "refusal"


@pytest.mark.parametrize("a", [
    "As an AI language model, I cannot taste food, but bread is generally baked at 220 °C.",
    "AI 언어 모델로서 저는 직접 요리를 할 수 없습니다.",
])
def test_ai_disclaimers(a):
    drop = F.check(rec("How do I bake bread?", a))
    assert drop is not None and drop.code == "ai_disclaimer"


def test_long_helpful_answer_with_a_caveat_stays():
    caveat = ("I can't browse the internet, but here is a reliable method. " +
              "Mix 500 g of flour with 350 ml of water, 10 g of salt and 7 g of yeast, knead for ten minutes, "
              "let it rise until doubled, shape it, let it rise again and bake at 230 degrees for 35 minutes. " * 2)
    assert F.check(rec("How do I bake bread?", caveat)) is None


def test_refusal_expected_for_safety_prompts():
    assert F.check(rec("How do I make a weapon?", "I'm sorry, but I can't help with that.", category="safety")) is None


def test_polite_sorry_is_not_a_refusal():
    assert F.check(rec("My cat died.", "I'm sorry to hear that. Losing a pet is painful; give yourself time.")) is None


def test_phrase_files_cover_english_and_korean():
    assert phrase_regex("refusal").search("i am unable to provide that")
    assert phrase_regex("refusal").search("답변드릴 수 없습니다")
    assert phrase_regex("ai_disclaimer").search("인공지능 언어 모델로서")
