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


# Short structured answers name their subject in every line: Gopher's shares were made for web
# documents of thousands of words, so the limits loosen with length (Meaningless.limit).
@pytest.mark.parametrize("q,a", [
    ("How long does Mara spend cycling each week?",
     "Mara cycles 3*2 = 6 hours to the lake each week.\n"
     "Mara cycles 2*4 = 8 hours to the market each week.\n"
     "Mara cycles 6 + 8 = 14 hours each week.\n"
     "So Mara spends 14 hours cycling each week."),
    ("Why should workers wear hard hats?",
     "Hard hats protect workers from falling tools.\n"
     "Hard hats protect workers from low beams.\n"
     "Hard hats protect workers from electric shocks when they are rated for it.\n"
     "Hard hats must be replaced after a heavy blow.\n"
     "Hard hats are required on most building sites."),
    ("Plan a week of lunches.",
     "Monday: main dish grilled fish, side dish rice, dessert fruit.\n"
     "Tuesday: main dish lentil soup, side dish bread, dessert yogurt.\n"
     "Wednesday: main dish chicken wrap, side dish salad, dessert cookies.\n"
     "Thursday: main dish pasta bake, side dish greens, dessert pudding.\n"
     "Friday: main dish bean chili, side dish cornbread, dessert apple."),
    ("How many tires were filled?",
     "There were 10 bike tires to fill because 2 times 5 equals 10.\n"
     "There were 9 trike tires to fill because 3 times 3 equals 9.\n"
     "There was 1 unicycle tire to fill because 1 times 1 equals 1.\n"
     "There were 20 tires to fill because 10 plus 9 plus 1 equals 20."),
])
def test_short_structured_answers_are_not_loops(q, a):
    assert F.check(rec(q, a)) is None


def test_limits_loosen_with_length_and_reach_gophers_figure():
    f = Meaningless()
    short, mid, full = f.limit(0.15, 40), f.limit(0.15, 500), f.limit(0.15, f.gopher_full_words)
    assert short > mid > full == 0.15
    assert short == pytest.approx(0.15 + 0.85 * f.short_slack)


@pytest.mark.parametrize("answer", [
    "Here is the plan. " + "We will go to the station and wait for the train. " * 8,
    "Intro line.\n" + "\n".join(["The answer is the same every time."] * 6),
    ("Tokyo is the capital of Japan and its largest city, home to millions of people who work in "
     "finance, technology and government. ") * 5,
    "<unk> <unk> <unk> <unk> <unk> <unk> <unk>",
])
def test_genuine_loops_are_still_caught(answer):
    drop = F.check(rec("Tell me about Tokyo.", answer))
    assert drop and drop.code == "repetition", drop


def test_long_loop_with_numbers_between_repeats():
    loop = " ".join(f"Step {i}: we open the door, walk into the room and close the door again behind us."
                    for i in range(1, 13))
    drop = F.check(rec("Describe the steps.", loop))
    assert drop and drop.code == "repetition", drop


@pytest.mark.parametrize("answer", [
    "def count(xs):\n    total = 0\n    for x in xs:\n        total += 1\n        total += 1\n"
    "        total += 1\n    return total",
    "let mut i := 0\nwhile i < n do\n  i := i + 1\n  i := i + 1\n  i := i + 1\n  i := i + 1",
    "x = 2 + 2 = 4\ny = 2 + 2 = 4\nz = 2 + 2 = 4\nw = 2 + 2 = 4\nSo every sum is four.",
])
def test_code_and_math_lines_are_not_judged_for_repetition(answer):
    assert F.check(rec("Show me.", answer)) is None


@pytest.mark.parametrize("answer", [
    "15 mph - 4 mph = 11 mph\n11 mph x (21/60) = 3.85 miles\nAnswer D",
    "ls -la /usr/local/bin\nchmod +x ./build.sh && ./build.sh --prefix=/opt/pkg",
    "#!/bin/bash\n\nmkdir project\ncd project",
    "public String longest(List<String> xs) {\n    return xs.stream().max(cmp).get();\n}",
    "rnbqkbnr/pp1ppppp/8/2p5/4P3/5N2/PPPP1PPP/RNBQKB1R b KQkq - 1 2",
    "Use $\\sqrt{x^2 + y^2}$ with x = 3 and y = 4: the length is 5.",
])
def test_equations_and_commands_are_not_gibberish(answer):
    assert F.check(rec("Show me.", answer)) is None


def test_broken_encoding_is_gibberish():
    drop = F.check(rec("Write a tagline.", "Ã¢â‚¬â„¢ ÃƒÂ© ▒▒▒ ☐☐ ��"))
    assert drop and drop.code == "gibberish" and "encoding" in drop.evidence


def test_mash_between_numbers_is_still_gibberish():
    drop = F.check(rec("What is 2 + 2?", "2 + 2 = qwrtzp xkcdvb mnbvcx lkjhgf"))
    assert drop and drop.code == "gibberish", drop


@pytest.mark.parametrize("q,a", [
    ("Given the following sentence, name its verb phrase:\n\nWe had to leave before noon.",
     'The verb phrase in the sentence "We had to leave before noon" is "had to leave".'),
    ("Find the conjunction in the following sentence\n\nShe wrote a letter and sealed it",
     'The conjunction in the sentence is "and".'),
    ("Replace every name in the text with <name>.\n\nAda met Alan in London in 1936.",
     "<name> met <name> in London in 1936."),
])
def test_answers_built_from_the_questions_input_do_not_restate(q, a):
    assert F.check(rec(q, a)) is None
