"""Each elimination rule and the near-duplicate index, on its own."""
import pytest

from imitate.questions.pool import Pool, language_of
from imitate.questions.rules import (CODES, check_answer_sorry, check_apology, check_copied, check_length,
                                   check_media, check_question, check_stopwords)
from imitate.questions.similarity import SimilarityIndex, lcs_len, rouge_l, tokens


def test_too_short_and_too_long():
    assert check_length("Why rain?", 3, 10).code == "too_short"
    assert check_length(" ".join(["word"] * 11), 3, 10).code == "too_long"
    assert check_length("Why does it rain?", 3, 10) is None


@pytest.mark.parametrize("q", ["Describe the image below.", "What is in this photo?", "Summarize the attached PDF.",
                               "Visit the website and list its prices.", "Read https://example.org and answer.",
                               "Explain the chart above.", "이 그림을 설명하세요.", "첨부한 문서를 요약해 주세요."])
def test_needs_media(q):
    assert check_media(q).code == "needs_media"


@pytest.mark.parametrize("q", ["How do convolutional networks classify images?", "How do I read a file in Python?",
                               "What links the French and the American revolutions?", "고양이 사진을 잘 찍는 방법은?",
                               "파일 시스템이란 무엇인가요?"])
def test_media_words_in_plain_questions_pass(q):
    assert check_media(q) is None


def test_stopwords_only():
    assert check_stopwords("What is this, and why?").code == "stopwords_only"
    assert check_stopwords("?!...").code == "stopwords_only"
    assert check_stopwords("What is photosynthesis?") is None


@pytest.mark.parametrize("q", ["#Rewritten Prompt#: explain rain", "Make the given prompt harder: explain rain",
                               "Here is the rewritten prompt for rain", "#Created Prompt# about owls"])
def test_copied_prompt(q):
    assert check_copied(q).code == "copied_prompt"


def test_copied_prompt_is_only_checked_for_evolved_questions():
    q = "How do I write a good given prompt for a model?"
    assert check_question(q, 3, 100) is None
    assert check_question(q, 3, 100, evolved=True).code == "copied_prompt"


@pytest.mark.parametrize("q", ["I'm sorry, but I cannot rewrite this prompt.", "As an AI language model, I cannot do that.",
                               "I can't help with that request.", "죄송하지만 도와드릴 수 없습니다."])
def test_apology_instead_of_a_question(q):
    assert check_apology(q).code == "apology"


def test_sorry_inside_a_real_question_is_not_an_apology():
    assert check_apology("How do you say sorry politely in Japanese?") is None


def test_answer_sorry_needs_sorry_and_a_short_answer():
    assert check_answer_sorry("Sorry, I don't know the answer to that.").code == "answer_sorry"
    assert check_answer_sorry("죄송합니다. 답할 수 없습니다.").code == "answer_sorry"
    long = "Sorry for the long answer. " + "Here is a detail. " * 40
    assert check_answer_sorry(long) is None
    assert check_answer_sorry("Rain forms when water vapour condenses.") is None


def test_every_code_is_documented():
    assert {"too_short", "too_long", "needs_media", "stopwords_only", "copied_prompt", "apology", "answer_sorry",
            "no_gain", "duplicate"} <= set(CODES)


def test_rouge_l_values():
    assert lcs_len("a b c d".split(), "a c d e".split()) == 3
    assert rouge_l("a b c d", "a c d e") == pytest.approx(2 * 3 / 8)
    assert rouge_l("What is rain?", "what is RAIN") == 1.0
    assert rouge_l("", "rain") == 0.0
    assert tokens("비는 왜 내리나요?") == ["비는", "왜", "내리나요"]


def test_similarity_index_finds_the_nearest_above_threshold_and_honours_exclude():
    idx = SimilarityIndex(0.7)
    idx.add("Why does it rain in spring?")
    idx.add("What is the capital of France?")
    score, text = idx.nearest("Why does it rain so often in spring?")
    assert text == "Why does it rain in spring?" and score >= 0.7
    assert idx.nearest("How do volcanoes form?") is None
    assert idx.nearest("Why does it rain in spring?", exclude={"Why does it rain in spring?"}) is None


def test_pool_screens_duplicates_of_seeds_and_of_each_other():
    pool = Pool([{"question": "What is the capital of France?"}], 0.7, 3, 50)
    assert pool.screen("What is the capital city of France?").code == "duplicate"
    assert pool.screen("How do volcanoes form under the sea?") is None
    pool.remember("How do volcanoes form under the sea?")
    assert pool.screen("How do volcanoes form under the ocean?").code == "duplicate"
    pool.forget("How do volcanoes form under the sea?")
    assert pool.screen("How do volcanoes form under the ocean?") is None


def test_language_of():
    assert language_of("비는 왜 내리나요?", "en") == "ko"
    assert language_of("Why does it rain?", "en") == "en"
    assert language_of("Why does it rain?", "ko") == "en"     # the question's own language wins
    assert language_of("Rain?", "ko") is None                  # too short to tell; a Korean hint is not trusted
    assert language_of("Why does it rain?", None) == "en"
