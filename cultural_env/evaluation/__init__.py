"""Evaluation of a model: knowledge recall, validation KL, multiple-choice benchmarks, math regression.

One module per benchmark family: :mod:`.recall` (closed-book recall of the dataset's knowledge),
:mod:`.multiple_choice` (CLIcK, KMMLU and HAE-RAE files, scored by log-likelihood),
:mod:`.math_word_problems` (exact match on the final number) and :mod:`.validation_kl`.
:mod:`.suite` runs the benchmarks a user selects on one model; ``cultural-kd eval`` wraps it.
"""
