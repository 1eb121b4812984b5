"""soundfinder: find sounds in a sample library by describing them.

    from soundfinder import Library, ClapEmbedder, index_paths, search_text

    embedder = ClapEmbedder.load("laion/clap-htsat-unfused")
    with Library.open("~/my-library", embedder.space) as lib:
        index_paths(lib, embedder, ["~/Samples"])
        for hit in search_text(lib, embedder, "dusty lo-fi snare", k=10):
            print(hit.score, hit.path)
"""

__version__ = "0.1.0"
