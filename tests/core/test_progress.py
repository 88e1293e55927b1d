from al_loop.core.progress import callback_progress, no_progress


def test_callback_progress_reports_done_and_total():
    seen = []
    with callback_progress(lambda done, total: seen.append((done, total)))("x", 3) as bar:
        bar.update(1)
        bar.update(2)
    assert seen == [(1, 3), (3, 3)]
    with callback_progress(lambda done, total: seen.append((done, total)))("x", None) as bar:
        bar.update(2)  # an unknown total grows with what is done
    assert seen[-1] == (2, 2)
    assert callback_progress(None) is no_progress
