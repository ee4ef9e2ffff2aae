from agents.gamma import next_block_size


def test_full_block_grows_by_two():
    assert next_block_size(4, 4, 4, 20) == 6


def test_growth_capped_at_gamma_max():
    assert next_block_size(19, 19, 19, 20) == 20


def test_partial_block_resets_to_prefix_plus_one():
    assert next_block_size(10, 3, 10, 20) == 4


def test_first_token_rejected_gives_one():
    assert next_block_size(8, 0, 8, 20) == 1


def test_short_final_block_fully_accepted_still_grows():
    assert next_block_size(8, 2, 2, 20) == 10
