"""Vocabulary for the synthetic catalog and review text.

Kept apart from the generator so the phrase pools can grow without touching the simulation.
Review phrases are grouped by aspect and polarity so that a review's text, rating and aspects agree.
"""

CATEGORIES = {
    # category: (price median, nouns)
    "Electronics": (120.0, ["headphones", "speaker", "charger", "smartwatch", "keyboard", "webcam", "router"]),
    "Books": (18.0, ["novel", "cookbook", "biography", "atlas", "guide", "anthology", "workbook"]),
    "Home & Kitchen": (45.0, ["pan", "kettle", "blender", "knife set", "cutting board", "toaster", "mug set"]),
    "Beauty": (25.0, ["serum", "moisturizer", "shampoo", "lipstick", "face mask", "perfume", "hair dryer"]),
    "Sports": (60.0, ["yoga mat", "dumbbell", "running shoes", "water bottle", "tennis racket", "bike helmet"]),
    "Toys": (30.0, ["puzzle", "building set", "doll", "board game", "toy car", "plush bear", "kite"]),
    "Clothing": (40.0, ["t-shirt", "jacket", "jeans", "sweater", "scarf", "dress", "sneakers"]),
    "Grocery": (12.0, ["coffee beans", "green tea", "olive oil", "dark chocolate", "granola", "honey"]),
    "Garden": (35.0, ["hose", "planter", "pruning shears", "seed kit", "garden gloves", "bird feeder"]),
    "Pets": (28.0, ["dog bed", "cat tree", "pet food", "leash", "chew toy", "aquarium filter"]),
    "Office": (22.0, ["notebook", "desk lamp", "pen set", "organizer", "stapler", "monitor stand"]),
    "Automotive": (55.0, ["car charger", "seat cover", "dash cam", "tire gauge", "floor mats", "wax kit"]),
}

ADJECTIVES = [
    "Classic",
    "Pro",
    "Eco",
    "Ultra",
    "Compact",
    "Deluxe",
    "Smart",
    "Essential",
    "Premium",
    "Urban",
    "Vintage",
    "Nordic",
    "Everyday",
    "Travel",
    "Studio",
    "Family",
]

STYLES = ["minimalist", "bold", "natural", "high-tech"]

DESCRIPTION_TEMPLATES = [
    "A {style} {noun} from our {category} range, built for everyday use.",
    "{style_cap} design meets reliable performance: this {noun} is a {category} favourite.",
    "Our {style} {noun} combines durable materials with a clean look.",
    "The {style} choice for anyone shopping {category}: a {noun} that lasts.",
]

ASPECTS = ["quality", "price", "shipping", "service"]

POSITIVE_PHRASES = {
    "quality": [
        "the quality is excellent",
        "it feels very well made",
        "great build quality",
        "sturdy and works perfectly",
        "the material is really good",
    ],
    "price": [
        "great value for the price",
        "the price was very fair",
        "cheap but does the job well",
        "worth every penny",
        "a bargain compared to other shops",
    ],
    "shipping": [
        "delivery was fast",
        "it arrived a day early",
        "shipping was quick and the box was intact",
        "fast delivery and well packed",
        "arrived on time",
    ],
    "service": [
        "customer service was helpful",
        "support answered my question quickly",
        "the seller was friendly and responsive",
        "great service from the team",
    ],
}

NEGATIVE_PHRASES = {
    "quality": [
        "the quality is terrible",
        "it broke after a week",
        "poorly made and feels cheap",
        "stopped working after two days",
        "the material is flimsy",
    ],
    "price": [
        "way too expensive for what it is",
        "overpriced",
        "not worth the money",
        "the price went up and it is not worth it",
        "I paid too much",
    ],
    "shipping": [
        "delivery was very slow",
        "it arrived two weeks late",
        "the package arrived damaged",
        "shipping took forever",
        "the parcel got lost for days",
    ],
    "service": [
        "customer service never answered",
        "support was rude and unhelpful",
        "nobody replied to my refund request",
        "terrible service from the seller",
    ],
}

NEUTRAL_PHRASES = [
    "it is okay",
    "does what it says",
    "average product",
    "nothing special but fine",
    "it is fine for the price",
    "as described",
]

POSITIVE_OPENINGS = ["Love it.", "Very happy with this.", "Excellent purchase.", "Really good.", "Five stars."]
NEGATIVE_OPENINGS = ["Very disappointed.", "Would not buy again.", "Bad experience.", "Awful.", "Not happy."]
NEUTRAL_OPENINGS = ["It's alright.", "Mixed feelings.", "Okay purchase.", "Decent."]

COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "AU", "BR"]
COUNTRY_WEIGHTS = [0.32, 0.12, 0.11, 0.09, 0.07, 0.06, 0.05, 0.07, 0.05, 0.06]
CHANNELS = ["organic", "paid_search", "social", "referral", "email"]
CHANNEL_WEIGHTS = [0.35, 0.25, 0.2, 0.1, 0.1]
