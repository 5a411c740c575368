"""Content-based item similarity from product attributes: TF-IDF of name + description, category one-hot and
price band. This is how a product nobody has bought yet reaches customers and gets "similar products".

products: polars DataFrame with product_id and any of name, description, category, price.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from customer_assets.ml.recommend.interactions import IdIndex
from customer_assets.ml.recommend.topk import top_neighbour_matrix

TEXT_COLUMNS = ("name", "description")
BLOCK_WEIGHTS = {"text": 1.0, "category": 0.7, "price_band": 0.3}


def validate_products(products: pl.DataFrame) -> pl.DataFrame:
    if not isinstance(products, pl.DataFrame):
        raise ValueError(f"products must be a polars DataFrame, got {type(products).__name__}")
    if "product_id" not in products.columns:
        raise ValueError(f"products is missing column 'product_id'; it has {products.columns}")
    usable = [c for c in (*TEXT_COLUMNS, "category", "price") if c in products.columns]
    if not usable:
        raise ValueError("products needs at least one of name, description, category, price")
    if "price" in products.columns and not products.schema["price"].is_numeric():
        raise ValueError(f"products.price must be numeric, got {products.schema['price']}")
    if products["product_id"].null_count():
        raise ValueError("products.product_id has null ids")
    return products.unique("product_id", keep="last", maintain_order=True)


def _one_hot(labels: pl.Series) -> sp.csr_matrix:
    codes = labels.fill_null("__missing__").cast(pl.String).cast(pl.Categorical).to_physical().to_numpy()
    uniques = np.unique(codes, return_inverse=True)[1]
    n = labels.len()
    return sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), uniques)), shape=(n, int(uniques.max()) + 1))


def content_features(products: pl.DataFrame, items: IdIndex, n_price_bands: int = 5) -> sp.csr_matrix:
    """items x features (rows in `items` order, L2-normalised); items absent from `products` get a zero row."""
    products = validate_products(products)
    positions = items.lookup(products["product_id"])
    products = products.filter(pl.Series(positions >= 0))
    positions = positions[positions >= 0]
    blocks = []
    text_columns = [c for c in TEXT_COLUMNS if c in products.columns]
    if text_columns:
        text = (
            products.select(
                pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in text_columns], separator=" ")
            )
            .to_series()
            .to_list()
        )
        vectoriser = TfidfVectorizer(
            stop_words="english",
            sublinear_tf=True,
            min_df=2 if len(text) >= 1000 else 1,
            max_df=0.5 if len(text) >= 20 else 1.0,  # words on most products carry no similarity
            max_features=50_000,
            dtype=np.float32,
        )
        try:
            blocks.append(("text", vectoriser.fit_transform(text)))
        except ValueError:  # every document empty or stop words only: no text signal
            pass
    if "category" in products.columns:
        blocks.append(("category", _one_hot(products["category"])))
    if "price" in products.columns and products["price"].drop_nulls().len() > 0:
        price = products["price"].cast(pl.Float64)
        edges = np.unique(np.nanquantile(price.drop_nulls().to_numpy(), np.linspace(0, 1, n_price_bands + 1)[1:-1]))
        band = pl.Series(np.searchsorted(edges, price.fill_null(np.nan).to_numpy(), side="right").astype(str))
        band = band.zip_with(price.is_not_null(), pl.Series([None] * price.len(), dtype=pl.String))
        blocks.append(("price_band", _one_hot(band)))
    weighted = [normalize(block.astype(np.float32)) * BLOCK_WEIGHTS[name] for name, block in blocks]
    stacked = normalize(sp.hstack(weighted, format="csr")) if weighted else sp.csr_matrix((len(positions), 1))
    # Scatter rows into catalogue order.
    placement = sp.csr_matrix(
        (np.ones(len(positions), np.float32), (positions, np.arange(len(positions)))),
        shape=(len(items), len(positions)),
    )
    return (placement @ stacked).tocsr().astype(np.float32)


def content_neighbours(features: sp.csr_matrix, neighbours: int = 50) -> sp.csr_matrix:
    """items x items sparse matrix of each item's `neighbours` most similar items by cosine of features."""
    transposed = features.T.tocsr()

    def similarities(start: int, stop: int) -> np.ndarray:
        return np.asarray((features[start:stop] @ transposed).todense(), dtype=np.float32)

    return top_neighbour_matrix(features.shape[0], neighbours, similarities)


class ContentModel:
    """Scores items for a customer by the content similarity of their history to each item."""

    name = "content"

    def __init__(self, neighbours: int = 50):
        self.neighbours = neighbours

    def fit(self, products: pl.DataFrame, items: IdIndex) -> ContentModel:
        self.features = content_features(products, items)
        self.similarity = content_neighbours(self.features, self.neighbours)
        self.has_features = np.asarray(self.features.getnnz(axis=1) > 0)
        return self

    def score(self, user_rows: np.ndarray, history: sp.csr_matrix) -> sp.csr_matrix:
        binary = history.copy()
        binary.data = np.ones_like(binary.data)
        return (binary @ self.similarity).tocsr()
