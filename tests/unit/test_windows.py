import pytest

from text.windows import plan_windows


def owned(windows):
    return [i for w in windows for i in range(w.own_start, w.own_end)]


def test_short_text_is_one_window():
    (w,) = plan_windows([1, 2, 1], max_tokens=10, overlap_tokens=2)
    assert (w.start, w.end, w.own_start, w.own_end) == (0, 3, 0, 3)


def test_every_word_is_owned_exactly_once_and_windows_fit():
    counts = [1, 3, 2, 1, 1, 4, 2, 1, 1, 1, 2, 3, 1] * 20
    windows = plan_windows(counts, max_tokens=12, overlap_tokens=4)
    assert owned(windows) == list(range(len(counts)))
    for w in windows:
        assert sum(counts[w.start : w.end]) <= 12
        assert w.start <= w.own_start <= w.own_end <= w.end


def test_windows_overlap_so_owned_words_have_context_on_both_sides():
    windows = plan_windows([1] * 30, max_tokens=10, overlap_tokens=4)
    for left, right in zip(windows, windows[1:]):
        assert right.start < left.end  # overlap
        assert left.own_end == right.own_start
        assert left.own_end - right.start >= 1 and left.end - left.own_end >= 1


def test_a_word_longer_than_the_window_gets_its_own_window():
    windows = plan_windows([2, 50, 2], max_tokens=10, overlap_tokens=2)
    assert owned(windows) == [0, 1, 2]
    assert any(w.start == 1 and w.end == 2 for w in windows)


def test_empty_text_has_no_windows():
    assert plan_windows([], 10, 2) == []


def test_zero_budget_is_rejected():
    with pytest.raises(ValueError):
        plan_windows([1], 0, 0)
