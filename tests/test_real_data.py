"""Known results on real data (skipped when ../shared/data is absent)."""

import pytest

from jaxrec import audit, data


@pytest.mark.slow
def test_bpr_mf_reaches_published_accuracy_on_ml100k_loo(shared_file, tmp_path):
  """Anelli, Di Noia, Merra (RecSys 2021) report HR@10 0.13-0.14 and nDCG@10 about 0.07 for
  BPR-MF on this exact leave-one-out split (64 factors, 200 epochs, lr 0.05)."""
  dataset = data.load_tsv_split(shared_file("loo-splits/movielens100k/trainingset.tsv"),
                                shared_file("loo-splits/movielens100k/testset.tsv"))
  config = audit.AuditConfig(dim=64, epochs=200, lr=0.05, ks=(10,), attacks=())
  r = audit.run_audit(dataset, config, tmp_path, progress=False, echo=lambda s: None)
  values = {(row["model"], row["metric"], row["k"]): row["value"] for row in r["rows"]}
  assert values[("bpr-mf", "hr", 10)] >= 0.12
  assert values[("bpr-mf", "ndcg", 10)] >= 0.06
  assert values[("bpr-mf", "hr", 10)] > values[("most-pop", "hr", 10)]


def test_registered_dataset_from_a_local_copy(shared_file, capsys):
  from jaxrec.cli import main  # pylint: disable=import-outside-toplevel
  path = shared_file("movielens-100k/u.data")
  assert main(["stats", "--dataset", "ml-100k", "--data", str(path), "--json"]) == 0
  out = capsys.readouterr().out
  assert '"interactions": 100000' in out and '"name": "ml-100k"' in out
