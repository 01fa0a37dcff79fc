import pytest

from imitate.filters.refusal import Refusal
from imitate.text.refusal import phrase_regex

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


@pytest.mark.parametrize("a", [
    "저는 인공지능이기 때문에 직접 맛을 볼 수는 없지만, 보통 빵은 200도에서 굽습니다.",
    "인공지능 언어모델이므로 개인적인 취향을 가질 수 없습니다. 다만 많은 분들이 통밀빵을 좋아합니다.",
    "저는 AI 어시스턴트라서 정확한 답은 어렵지만, 반죽을 충분히 치대세요.",
    "Al ser un modelo de lenguaje, no tengo gustos, pero el pan de masa madre es popular.",
    "Soy una inteligencia artificial y no tengo opiniones personales sobre el pan.",
])
def test_more_korean_and_spanish_disclaimers(a):
    drop = F.check(rec("How do I bake bread?", a))
    assert drop is not None and drop.code == "ai_disclaimer", drop


@pytest.mark.parametrize("a", [
    "GPT는 트랜스포머 기반의 언어 모델입니다. 문맥을 보고 다음 단어를 예측합니다.",
    "Herramientas como IA generativa ayudan a escribir recetas de pan.",
])
def test_talking_about_ai_is_not_a_disclaimer(a):
    assert F.check(rec("What is GPT?", a)) is None


def test_phrase_choices_and_anchors():
    rx = phrase_regex("ai_disclaimer")
    assert rx.search("저는 인공지능 챗봇입니다") and rx.search("siendo una IA")
    from imitate.text.refusal import phrases
    anchors = phrases("ai_disclaimer")[1]
    assert "" not in anchors and all(len(a) >= 2 for a in anchors)   # never a match-everything prefilter
