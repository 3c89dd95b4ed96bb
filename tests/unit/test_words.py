from text.words import split_words


def words(text):
    return [text[s:e] for s, e in split_words(text)]


def test_latin_words_and_punctuation_are_separate():
    assert words("Merkel's U.S. trip, 2024!") == ["Merkel", "'", "s", "U", ".", "S", ".", "trip", ",", "2024", "!"]


def test_han_characters_are_one_word_each():
    assert words("我在北京工作") == ["我", "在", "北", "京", "工", "作"]


def test_latin_run_stops_at_han():
    assert words("abc北京") == ["abc", "北", "京"]


def test_combining_accents_stay_inside_the_word():
    text = "Cafe\u0301 de\u0301ja\u0300"
    assert words(text) == ["Cafe\u0301", "de\u0301ja\u0300"]


def test_emoji_and_whitespace_offsets_are_code_points():
    text = "I \U0001f600\tlove\nParis"
    spans = split_words(text)
    assert [text[s:e] for s, e in spans] == ["I", "\U0001f600", "love", "Paris"]
    assert spans[-1] == (len(text) - 5, len(text))


def test_no_word_contains_whitespace():
    text = " a\u00a0b \u3000c\u2003d "
    assert all(not text[s:e].isspace() and text[s:e].strip() == text[s:e] for s, e in split_words(text))
