import pytest

from imitate.text.words import SEP, is_code_line, prose, without_code, words


@pytest.mark.parametrize("line", [
    "def factorial(n):", "    return n * factorial(n - 1)", "import os", "from collections import Counter",
    "SELECT * FROM customers WHERE city = 'Seoul';", "ls -la /tmp", "$ pip install requests",
    "const app = express();", "x = 5", "left, right = 0, len(xs) - 1", "i := i + 1", "}",
    "<html>", "#include <stdio.h>", "console.log(result);", "80,000+50,000=$130,000",
    "cos(C) = (a² + b² - c²) / (2ab)",
])
def test_code_command_query_and_formula_lines(line):
    assert is_code_line(line)


@pytest.mark.parametrize("line", [
    "The cost of the house came out to $130,000 in total.",
    "For example, the function returns a list of names.",
    "Select the best answer from the list below.",
    "Let me explain how this works.",
    "# Understanding a Person's World View",
    "**Customer**: Yes, that would be great.",
    "1) Determine which GPUs fulfill your needs; then compare prices.",
    "Return to the main menu when you are done.",
    "The seven colors of the rainbow are (in order):",
    "| Merchant Navy Career Paths | 85 |",
])
def test_prose_lines_are_not_code(line):
    assert not is_code_line(line)


def test_prose_drops_code_math_numbers_identifiers_paths_and_flags():
    text = ("Run `make` first.\n```python\nprint(1)\n```\nThen call wikipedia('Albert Einstein') with "
            "max_len and maxLen from os.path, 12 mph, $x^2$ and ls -la in /usr/bin.\nx = 5\n"
            "See https://example.com for more.")
    kept = words(prose(text))
    assert kept == ("run", "first", "then", "call", "with", "and", "from", "and", "ls", "in",
                    "see", "for", "more")
    assert "x = 5" not in without_code(text) and "12 mph" in without_code(text)


def test_prose_marks_removed_spans_and_keeps_cjk_around_numbers():
    assert prose("Add 2 and 3.").count(SEP) == 2
    assert prose("물을 550ml 넣고 4분 끓입니다.") == f"물을 {SEP} 넣고 {SEP}분 끓입니다."
    assert prose("まず鍋に水を550ml入れて沸騰させます。") == f"まず鍋に水を{SEP}入れて沸騰させます。"
