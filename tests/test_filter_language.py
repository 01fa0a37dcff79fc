import pytest

from imitate.filters.language import Language
from imitate.text.language import identify


def rec(q, a, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


F = Language()
EN_LONG = "The mitochondria produce most of the energy a cell needs by breaking down sugars with oxygen."
ES_LONG = "Las mitocondrias producen la mayor parte de la energía que necesita la célula para vivir."
KO_LONG = "미토콘드리아는 산소를 이용해 당을 분해하여 세포에 필요한 에너지 대부분을 만듭니다."


@pytest.mark.parametrize("q,a", [
    ("미토콘드리아는 무슨 일을 하나요?", EN_LONG),
    ("What do mitochondria do?", KO_LONG),
    ("What do mitochondria do?", ES_LONG),
    ("¿Qué hacen las mitocondrias en la célula?", EN_LONG),
    ("What do mitochondria do?", "ミトコンドリアは細胞のエネルギーを作る器官です。"),
])
def test_mismatch(q, a):
    drop = F.check(rec(q, a))
    assert drop is not None and drop.code == "mismatch"
    assert "question" in drop.evidence


@pytest.mark.parametrize("q,a", [
    ("미토콘드리아는 무슨 일을 하나요?", KO_LONG),
    ("What do mitochondria do?", EN_LONG),
    ("¿Qué hacen las mitocondrias?", ES_LONG),
    ("파이썬에서 리스트를 정렬하는 방법은?", "`sorted()` 함수나 `list.sort()` 메서드를 쓰면 됩니다.\n```python\nnums.sort()\n```"),
    ("What is the capital of Korea?", "서울 (Seoul)"),             # short: never dropped on a guess
    ("한국의 수도는?", "Seoul."),
    ("Translate 'thank you very much' into Korean.", "정말 감사합니다. 더 공손하게는 대단히 감사합니다라고 합니다."),
    ("이 문장을 영어로 번역하세요: 나는 학생입니다.", "I am a student, and I study at the university every day."),
])
def test_allowed(q, a):
    assert F.check(rec(q, a)) is None


def test_languages_option_allows_more():
    assert Language(languages=("en",)).check(rec("미토콘드리아는 무슨 일을 하나요?", EN_LONG)) is None
    assert Language(languages=("es",)).check(rec("미토콘드리아는 무슨 일을 하나요?", EN_LONG)) is not None


def test_system_message_naming_a_language():
    assert F.check(rec("What do mitochondria do?", KO_LONG, system="Always answer in Korean.")) is None


def test_detection_is_deterministic_and_script_first():
    lang, script, how = identify(KO_LONG, 20, 3)
    assert (lang, script, how) == ("ko", "hangul", "script")
    ambiguous = "Kucing itu tidur di atas meja makan sepanjang hari karena cuaca panas sekali."
    first = identify(ambiguous, 20, 3)
    assert first[2] == "langdetect"
    assert all(identify(ambiguous, 20, 3) == first for _ in range(3))


@pytest.mark.parametrize("q,a", [
    ("Who was Albert Einstein?", "Albert Einstein was wikipedia('Albert Einstein')"),
    ("How many miles did Lynn run?", "Paisley ran 4 miles.\nReggie ran 5 * 4 miles = 20 miles\n"
                                     "Lynn ran 3 miles less than Reggie = 20 - 3 = 17 miles\nLynn ran 17 miles."),
    ("How much do the pens cost?", "Six pens cost $2/pen x 6 pens = $12.\nEight pads cost $3/pad x 8 pads = $24.\n"
                                   "So, 6 pens and 8 pads cost $12 + $24 = $36."),
    ("Write a function that adds two numbers.", "def add(a, b):\n    return a + b\n\nprint(add(2, 3))"),
    ("Write a query for the customers in Seoul.", "SELECT * FROM customers WHERE city = 'Seoul';"),
    ("Name countries of South America.", "- Argentina\n- Bolivia\n- Brasil\n- Chile\n- Colombia\n- Ecuador\n"
                                         "- Paraguay\n- Peru\n- Uruguay\n- Venezuela"),
    ("Give synonyms of 'brave'.", "Courageous, fearless, valiant, intrepid, daring, bold, heroic, gallant."),
    ("Which dishes are typical of Italy?", "Risotto alla Milanese, Spaghetti alla Carbonara, Ossobuco, "
                                           "Lasagne al Forno, Polenta, Tiramisu"),
])
def test_names_numbers_code_and_lists_are_no_evidence_for_a_detector(q, a):
    assert F.check(rec(q, a)) is None


def test_a_detector_needs_more_prose_when_names_and_code_crowd_it():
    lang, script, how = identify("Reggie ran 5 miles beside Lynn Paisley near Montevideo Harbour Bridge.", 20, 3)
    assert lang is None and "prose" in how
    lang, script, how = identify("Kucing itu tidur di atas meja makan sepanjang hari karena cuaca panas sekali.",
                                 20, 3)
    assert how == "langdetect" and lang is not None
    lang, script, how = identify("merah, kuning, hijau, biru, ungu, jingga, hitam, putih, coklat", 20, 3)
    assert lang is None and "list" in how


def test_foreign_prose_with_numbers_is_still_caught():
    a = ("Die Stadt hat etwa 3,7 Millionen Einwohner und ist seit 1990 die Hauptstadt des Landes, "
         "weil die Regierung nach der Wiedervereinigung dorthin zog.")
    drop = F.check(rec("How many people live in Berlin?", a))
    assert drop is not None and drop.code == "mismatch"
