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


@pytest.mark.parametrize("q,a", [
    ("Write a SQL query that lists the customers who live in Seoul.",
     "SELECT * FROM customers WHERE city = 'Seoul';"),
    ("Write a shell command to show all files, hidden ones too, in detail.", "ls -la"),
    ("Explain how to reverse a string in JavaScript. Write a function to demonstrate.",
     "function reverse(s) {\n  return s.split('').reverse().join('');\n}"),
    ("Write a Python function that sorts a list from large to small.",
     "def desc(xs):\n    return sorted(xs, reverse=True)"),
    ("Call the weather tool for Seoul and describe what you send.",
     '{"name": "get_weather", "arguments": {"city": "Seoul"}}'),
    ("Explain how to look up the weather in detail.", 'get_weather(city="Seoul")'),
    ("Write a bash script that makes a folder and enters it.", "#!/bin/bash\nmkdir project\ncd project"),
    ("Describe the fix.", "```python\nx = 1\n```"),
    ("Fix the following object literal and return the fixed code.",
     "const car = {\n  'make': 'Kia',\n  'model': 'Rio',\n  'year': 2020\n};"),
])
def test_code_queries_calls_and_commands_need_no_prose(q, a):
    assert F.check(rec(q, a)) is None


def test_a_formula_alone_answers_a_request_for_one_but_not_an_explanation():
    assert F.check(rec("Write an equation for the change in temperature.", "ΔT = T2 - T1")) is None
    drop = F.check(rec("Explain the theory of special relativity.", "E=mc²."))
    assert drop is not None and drop.code == "words"


@pytest.mark.parametrize("q,a", [
    ("Rewrite this sentence in the active voice.\n\nThe ball was thrown by Sam.", "Sam threw the ball."),
    ("Sort these numbers from high to low: 9, -7, 15, 12", "15, 12, 9, -7"),
    ("Generate a headline for the following article.\n\nCities plan more bike lanes.", "Cities Bet on Bikes"),
    ("Generate a password of 8 characters.", "e9gKyd2D"),
    ("Create a title for a story about a lost dog.", "Finding Biscuit"),
    ("Describe the color red in 3 words.", "Bold, warm, urgent."),
    ("Generate three verbs that mean to run.", "Sprint, dash, race."),
    ("다음 문장을 더 간결하게 다시 작성하세요.\n\n나는 오늘 아침에 학교에 걸어서 갔습니다.", "오늘 아침 걸어서 등교했다."),
    ("Analyze the tone of the following sentence.\n\nI can't believe you did that!",
     "The tone of this sentence is angry and accusatory."),
])
def test_short_by_nature(q, a):
    assert F.check(rec(q, a)) is None


def test_a_named_count_caps_the_demand_but_still_counts():
    drop = F.check(rec("List five tips for staying productive at home.", "Make a schedule."))
    assert drop is not None and "names 5" in drop.evidence
    assert F.check(rec("Write a short story about a lost robot.", "The robot was lost. Then found.")) is not None


def test_the_demand_comes_from_the_instruction_not_its_input():
    """Alpaca's input and Dolly's context are joined to the user turn and kept as `input`: a
    passage that says "list" or "why" is material, not what the task asks."""
    passage = "Why do rivers flood? Historians list three causes and describe each in detail."
    r = rec("When did the city get its first bridge?\n\n" + passage, "In 1820.")
    assert F.check(dict(r, input=passage)) is None
    assert F.check(r) is not None                      # without the field, the passage counts
    only_input = rec(passage, "Rain.")
    assert F.check(dict(only_input, input=passage)) is not None   # no instruction: the input is all


@pytest.mark.parametrize("q,a", [
    ("List some colours of the rainbow.", "Red, orange, yellow, green."),
    ("What are some good fruits for a picnic?", "- Grapes\n- Apples\n- Watermelon"),
    ("Brainstorm names for a pet turtle.", "Shelly; Tank; Sheldon; Speedy"),
    ("봄에 피는 꽃을 나열하세요.", "개나리, 진달래, 벚꽃"),
])
def test_a_list_of_items_meets_a_request_to_list(q, a):
    assert F.check(rec(q, a)) is None


@pytest.mark.parametrize("q,a", [
    ("List some colours of the rainbow.", "Red and orange."),            # two items are not a list of some
    ("Write a poem about autumn.", "Leaves, wind, rain."),               # a poem is not a list request
    ("List five tips for staying healthy.", "Sleep, water, walks."),     # the named count still rules
])
def test_a_list_does_not_excuse_other_short_answers(q, a):
    assert F.check(rec(q, a)) is not None


def test_korean_why_and_how_ask_for_an_explanation_only_when_put_to_the_listener():
    assert F.check(rec("하늘은 왜 파란가요?", "빛 때문입니다.")) is not None         # polite question
    assert F.check(rec("왜 하늘이 파란지 알려줘", "빛 때문이야.")) is not None      # a request
    assert F.check(rec("비가 왜 이렇게 많이 오지", "장마라서 그래요.")) is None     # chat to oneself
    assert F.check(rec("오늘 뭐 하지? 어떻게 할까", "산책해요.")) is None
    assert F.check(rec("임진왜란은 언제 일어났나요?", "1592년이에요.")) is None     # 왜 inside a noun


def test_korean_counts_one_and_a_half_syllables_a_word():
    # 15 syllables: 10 words at 1.5 (enough for a request to write), 7.5 at the old 2.0
    answer = "바닷가 근처 조용한 숙소가 좋겠어요."
    assert sum(ch.isalnum() for ch in answer) == 15
    assert F.check(rec("여행지를 추천해 주세요.", answer)) is None
    assert F.check(rec("여행지를 추천해 주세요.", "바다요.")) is not None
