"""Default word lists for the naming policy (``charter.domain.naming``).

Each list is a frozenset of lowercase tokens. A few entries are phrases of up to
three tokens joined by ``_`` (``random_forest``, ``new_user``): the policy matches
them against consecutive tokens of a name, so ``random`` and ``forest`` alone are
not algorithms. Deployments extend or replace any list through ``NamingPolicy``;
these are only the shipped defaults.

First names are not here: they come from a maintained data package, through the
adapter ``charter.person_names``, so the domain stays free of third-party code.
"""

from __future__ import annotations

# Words that mark one iteration of a product rather than the product.
VERSION_MARKERS = frozenset({
    "v", "ver", "version",
    "final", "new", "newer", "newest", "old", "older", "oldest", "latest",
    "copy", "dup", "duplicate", "tmp", "backup", "bak", "orig", "wip",
    "updated", "revised", "improved", "retrained", "redo", "hotfix", "alt",
})

# Only a version marker when a marker follows: "really_final", "very_new".
VERSION_QUALIFIERS = frozenset({"really", "very", "truly", "actually"})

# Words that turn a following bare number into a version: "fraud_v_2", "version_3".
VERSION_NUMBER_WORDS = frozenset({"v", "ver", "version"})

# Month names and abbreviations, including the four-letter "sept".
DATE_WORDS = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})

# Algorithms and architectures: they change between versions, the product does not.
ALGORITHMS = frozenset({
    # gradient boosting and trees
    "xgboost", "xgb", "lightgbm", "lgbm", "lgb", "catboost", "adaboost", "gbm", "gbdt", "gbt",
    "gbrt", "randomforest", "random_forest", "random_forests", "isolation_forest",
    "extra_trees", "decision_tree", "decision_trees", "gradient_boosting",
    "gradient_boosted", "gradient_boosted_trees", "light_gbm", "cat_boost", "xg_boost",
    "ada_boost",
    # linear, probabilistic and classical models
    "logistic_regression", "linear_regression", "polynomial_regression", "logit", "probit",
    "glm", "gam", "ols", "lasso", "ridge", "elasticnet", "elastic_net", "svm", "svc", "svr",
    "support_vector_machine", "knn", "k_nearest_neighbors", "k_nearest_neighbours",
    "naive_bayes", "naivebayes", "kmeans", "k_means", "dbscan", "hdbscan", "pca", "lda",
    "nmf", "tsne", "umap", "hmm", "crf", "matrix_factorization", "collaborative_filtering",
    # time series
    "arima", "sarima", "sarimax", "arimax", "prophet", "garch", "holt_winters",
    # neural networks
    "lstm", "bilstm", "gru", "cnn", "rnn", "dnn", "mlp", "ann", "neural_network",
    "neural_net", "transformer", "transformers", "autoencoder", "vae", "gan",
    "resnet", "vgg", "efficientnet", "mobilenet", "densenet", "unet", "yolo", "vit",
    "tabnet", "deepfm", "deep_fm", "two_tower", "wide_and_deep",
    # language models and embeddings
    "bert", "distilbert", "roberta", "albert", "electra", "xlnet", "gpt", "llama",
    "mistral", "gemma", "word2vec", "doc2vec", "node2vec", "fasttext",
})

# Words that say what kind of thing a model is, not what it is for. A name made
# only of these (and of flagged tokens) is too generic; one of them next to a
# specific word is fine ("payments_risk_model").
GENERIC_WORDS = frozenset({
    "model", "models", "classifier", "classifiers", "regressor", "regressors",
    "predictor", "predictors", "prediction", "predictions", "predict", "estimator",
    "forecaster", "forecast", "forecasting", "scorer", "score", "scores", "scoring",
    "ranker", "ranking", "detector", "detection", "classification", "classify",
    "regression", "clustering", "cluster", "ensemble", "engine", "pipeline", "system",
    "service", "app", "algo", "algorithm", "net", "network", "nn", "ml", "ai", "deep",
    "learning", "machine", "neural", "data", "inference", "training", "trained",
    "binary", "multiclass", "multilabel", "multi", "tabular", "output",
    "baseline", "default", "main", "generic", "simple", "basic", "base", "custom",
    "sample", "example", "demo", "dummy", "toy", "prototype", "poc", "experiment",
    "experiments", "exp", "trial", "test", "thing", "stuff", "project",
    "my", "our", "your", "team", "the", "a", "an", "of", "for", "and", "with", "to", "by",
})

# Stages and environments belong to versions and deployments, not to names.
STAGE_WORDS = frozenset({
    "prod", "production", "prd", "preprod", "pre_prod", "pre_production",
    "staging", "stage", "stg", "dev", "develop", "development", "qa", "uat",
    "test", "testing", "sandbox", "archived", "deprecated", "retired",
    "champion", "challenger", "canary",
})

# Tokens (and phrases) that are never flagged. Mostly real words of ML and business
# vocabulary, places and materials that are also first names in common name lists
# ("grant", "mark", "iris", "sydney"), plus phrases where a marker word carries
# meaning ("new_user" is a segment, not a version). Month names are deliberately
# absent: "april" and "june" are reported as dates, which is right either way.
ALLOWED_TOKENS = frozenset({
    # business and ML words that are also first names
    "ada", "amber", "aria", "art", "bill", "case", "cash", "chance", "chase", "cord",
    "corona", "crystal", "diamond", "dex", "dom", "edit", "edu", "eta", "floor", "flora", "forum",
    "gene", "grace", "grant", "harm", "hunter", "immo", "iris", "isa", "jet", "job",
    "kick", "lane", "lex", "line", "lot", "marine", "mark", "max", "meta", "min",
    "page", "pascal", "peer", "penny", "price", "rank", "ray", "robin", "roman",
    "sale", "sam", "sandy", "sem", "sol", "summer", "autumn", "ties", "till", "urban",
    "will", "german",
    # places that are also first names: regional models are common
    "alexandria", "aurora", "austin", "carolina", "charlotte", "chelsea", "dakota",
    "florence", "georgia", "jackson", "jordan", "lourdes", "madison", "milan",
    "modesto", "montserrat", "orlando", "regina", "salvador", "santiago", "santos",
    "savannah", "sierra", "sydney", "trinidad", "victoria", "virginia",
    # tokens that end in digits without being a version
    "covid19", "ipv4", "ipv6", "utf8", "sha256", "base64", "int8", "fp16", "bf16",
    "float16", "float32", "float64",
    # phrases where a marker or stage word is part of the meaning
    "new_user", "new_users", "new_customer", "new_customers", "new_member",
    "new_members", "new_account", "new_accounts", "new_york", "new_jersey",
    "new_zealand", "new_delhi", "new_mexico", "new_hampshire", "ad_copy", "ab_test",
    "ab_testing", "multi_stage", "two_stage", "first_stage", "second_stage",
})
