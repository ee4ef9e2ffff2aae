"""Train the embedded tiny student on your own (query, knowledge) file.

The file is JSONL (or a JSON array) with `id`, `category` (tradition, history, food, geography or
modern), `query`, `knowledge` and optional `sources`; check it first with
`cultural-kd data validate FILE`. Run from the repository root:

    python examples/train_on_your_data.py my_data.jsonl runs/my-data
"""

import json
import logging
import sys

from agents.run_config import load_run_config
from agents.training import Trainer


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_file, output_dir = sys.argv[1], sys.argv[2]
    config = load_run_config(
        None,
        [f"env.data.path={data_file}", "env.data.split=all", "train.num_items=null", f"train.output_dir={output_dir}", "train.epochs=2"],
    )
    summary = Trainer(config).run()
    logging.info("%s", json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
