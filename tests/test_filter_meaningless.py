import pytest

from imitate.filters.meaningless import Meaningless


def rec(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


F = Meaningless()


@pytest.mark.parametrize("answer,code", [
    ("", "empty"),
    (" \n\t ", "empty"),
    ("?!... ---", "punctuation"),
    ("🙂🙂🙂", "punctuation"),
    ("qwerty asdfgh zxcvbn", "gibberish"),
    ("bgrtk mnzxq plkjh wqrtv", "gibberish"),
    ("ㅁㄴㅇㄹ ㅋㅋㅋㅋ", "gibberish"),
    ("of the and in to it", "stopwords"),
    ("Hello there friend. " + "We should go to the market today. " * 4, "repetition"),
    ("\n".join(["- buy milk"] * 6), "repetition"),
    ("yes " * 15, "repetition"),
])
def test_drop_codes(answer, code):
    drop = F.check(rec("Tell me something useful about cooking pasta.", answer))
    assert drop is not None and drop.code == code, drop
    assert drop.evidence


def test_gopher_duplicate_ngrams_in_a_long_loop():
    loop = ("the model keeps producing the same clause about the weather in spring and the weather "
            "in spring keeps coming back ") * 4
    drop = F.check(rec("Describe spring.", "Spring is mild. " + loop))
    assert drop and drop.code == "repetition"


def test_restating_the_question():
    drop = F.check(rec("What is the largest desert in Africa?", "The largest desert in Africa."))
    assert drop and drop.code == "restates_question"
    drop = F.check(rec("How many strings does a violin have?", "You are asking how many strings a violin has."))
    assert drop and drop.code == "restates_question"


@pytest.mark.parametrize("q,a", [
    ("Is Paris the capital of France?", "Yes, Paris is the capital of France."),
    ("Which is bigger, 7 or 9?", "9 is bigger than 7."),
    ("What is the capital of Peru?", "Lima."),
    ("Name a web language.", "HTML, CSS and JS are the basics."),
    ("Are you sure?", "No, it is not."),
    ("Write a loop.", "```python\nfor i in range(3):\n    print(i)\n    print(i)\n    print(i)\n    print(i)\n```"),
    ("Explain rhythm.", "Rhythm is the pattern of strong and weak beats in music; strengths of a "
                        "drummer include steady rhythms."),
    ("광합성이란?", "광합성은 식물이 빛 에너지로 포도당을 만드는 과정입니다. ATP와 NADPH가 쓰입니다."),
    ("List the weekdays.", "Monday\nTuesday\nWednesday\nThursday\nFriday"),
])
def test_good_answers_pass(q, a):
    assert F.check(rec(q, a)) is None


@pytest.mark.parametrize("marker", ["{i}. ", "{i}) ", "- ", "* ", "• "])
def test_a_list_looping_over_two_items_is_repetition(marker):
    lines = [marker.format(i=i) + ("Spinach" if i % 2 else "Broccoli") for i in range(1, 25)]
    drop = F.check(rec("Name vegetables rich in iron.", "\n".join(lines)))
    assert drop and drop.code == "repetition", drop


@pytest.mark.parametrize("answer", [
    "1. False\n2. True\n3. False\n4. False\n5. True\n6. False",
    "1. C\n2. A\n3. C\n4. C\n5. D",
    "1. Peel the apples.\n2. Slice the apples.\n3. Add sugar.\n4. Bake for 30 minutes.",
])
def test_numbered_answer_keys_and_steps_are_not_loops(answer):
    assert F.check(rec("Give the answers.", answer)) is None


def test_restating_after_stemming():
    drop = F.check(rec("Why do maples change colour in autumn?",
                       "Why do maples change colour in autumn? That is a question about why a maple changes colour in autumn."))
    assert drop and drop.code == "restates_question"
    drop = F.check(rec("How do bees make honey?", "You are asking how bees are making honey."))
    assert drop and drop.code == "restates_question"


@pytest.mark.parametrize("q,a", [
    ("What colour is grass?", "Grass is green."),
    ("How do bees make honey?", "Bees make honey from nectar."),
    ("How many moons does Earth have?", "There is one."),
    ("Which glass is yours?", "That one, the tall one."),
])
def test_short_real_answers_stay(q, a):
    assert F.check(rec(q, a)) is None


@pytest.mark.parametrize("answer", ["This is the one which is that, so it is.", "It is because it is, and thus so."])
def test_function_words_only(answer):
    drop = F.check(rec("What is love?", answer))
    assert drop and drop.code == "stopwords", drop


def test_short_answers_whose_key_word_is_a_foreign_stop_word_are_kept():
    # Found on real embedded-teacher output: "au" is a French stop word, but here it is the answer.
    f = Meaningless()
    for q, a in [("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
                 ("Which element has the symbol Au?", "It is Au.")]:
        assert f.check(rec(q, a)) is None, (q, a)
    assert f.check(rec("Why is the sky blue?", "It is the one that is.")).code == "stopwords"


def test_a_statement_answering_a_yes_no_question_is_not_a_restatement():
    f = Meaningless()
    assert f.check(rec("Is Paris the capital of France?", "Paris is the capital of France.")) is None
    assert f.check(rec("Does water boil at 100 degrees Celsius at sea level?",
                       "Water boils at 100 degrees Celsius at sea level.")) is None
    drop = f.check(rec("How does a kettle heat water quickly?", "A kettle heats water quickly."))
    assert drop is not None and drop.code == "restates_question"
