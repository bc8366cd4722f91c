"""Keyword search benchmark: Kiwi tokenization throughput, BM25Index build and query latency.

Compares, on the same pre-tokenized synthetic Korean corpus (>= 50k documents by default):
  1. KiwiTokenizer.tokenize_batch vs Kiwi's own batch call Kiwi().tokenize(texts);
     time from a fresh process to the first tokenization (model load);
  2. BM25Index build time (vs rank_bm25 and bm25s index builds);
  3. query latency p50/p95 of BM25Index.search(k=10) vs rank_bm25 BM25Okapi.get_top_n
     and vs bm25s (method="lucene", compared with our variant="lucene": same idf, same ranking);
  4. time from process start + `import gyeol.lexical` to the first keyword result.

Runs offline. Usage:
    PYTHONPATH=src python benchmarks/keyword.py [--docs 50000] [--queries 200] [--seed 0]
Prints a markdown table and writes benchmarks/results/keyword.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gyeol.config import BM25  # noqa: E402
from gyeol.lexical import BM25Index, KiwiTokenizer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "keyword.json"

# ----------------------------------------------------------------------------- corpus

NOUNS = """
검색 시스템 데이터 모델 학습 성능 서버 사용자 문서 질문 답변 결과 정보 기술 회사 시장 정부 정책 경제
사회 문화 교육 학교 학생 선생님 연구 개발 분석 방법 문제 해결 서비스 제품 고객 가격 품질 환경 에너지
전기 자동차 도시 서울 부산 대구 광주 제주도 한국 일본 중국 미국 유럽 세계 국가 역사 시간 오늘 내일
주말 여행 음식 식당 커피 건강 병원 의사 환자 운동 경기 선수 음악 영화 배우 감독 작가 뉴스 기사 신문
방송 인터넷 컴퓨터 프로그램 소프트웨어 하드웨어 네트워크 보안 개인정보 클라우드 인공지능 알고리즘 색인
벡터 임베딩 토큰 형태소 문장 단어 언어 번역 자연어 처리 속도 메모리 디스크 저장 파일 데이터베이스
검색엔진 추천 광고 매출 이익 투자 주식 은행 금리 물가 부동산 아파트 주택 날씨 기온 여름 겨울 봄 가을
바다 공원 회의 계획 목표 전략 변화 발전 성장 위기 기회 경험 의견 생각 이유 관계 가족 친구 부모 아이
사람 직원 대표 사장 팀장 프로젝트 일정 예산 비용 계약 법률 규제 선거 대통령 국회 의원 외교 안전 사고
화재 경찰 재판 수사 과학 실험 우주 위성 로봇 반도체 배터리 스마트폰 게임 플랫폼 콘텐츠 채널 구독 영상
사진 디자인 패션 청년 노인 인구 출산 복지 일자리 취업 임금 노동 산업 농업 수출 수입 무역 관세 환율
통계 조사 보고서 자료 기록 평가 시험 점수 대학 입시 졸업 지역 주민 행사 축제 공연 전시 박물관 도서관
교통 지하철 버스 공항 항공 철도 도로 건설 공사 설계 장비 부품 공장 생산 공급 수요 소비 판매 유통 물류
배송 주문 결제 카드 보험 연금 세금 재정 부채 적자 흑자 협상 합의 갈등 논란 비판 지지 반대 조건 기준
표준 규격 인증 특허 연구소 실험실 교수 박사 논문 학회 발표 강연 세미나 교재 강의 수업 숙제 질병 치료
백신 약 증상 진단 수술 검사 감염 예방 면역 유전자 세포 단백질 기후 탄소 배출 재생 태양광 풍력 원전
""".split()

PREDICATES = """
검색했다 발표했습니다 늘어났다 줄어들었다 증가했다 감소했다 개선되었다 확인했다 사용합니다 필요하다
중요하다 빨라졌다 느려졌다 좋았다 어렵다 쉬웠다 만들었다 보여줬다 알려졌다 밝혔다 설명했다 강조했다
지적했다 예상된다 나타났다 높아졌다 낮아졌다 시작했다 끝났다 결정했다 추진한다 도입했다 공개했다
출시했다 준비하고있다 논의했다 검토한다 요구했다 제안했다 참여했다 기록했다 차지했다 이어졌다
달라졌다 바뀌었다 먹었다 마셨다 걸었다 달렸다 읽었다 썼다 들었다 봤다 배웠다 가르쳤다 도와줬다
찾았다 잃었다 얻었다 팔았다 샀다 열렸다 닫혔다 아름답다 추웠다 더웠다 따뜻하다 시원하다 비싸다 싸다
""".split()

ADVERBS = "매우 빠르게 크게 다시 함께 이미 아직 특히 계속 최근 곧 모두 가장 더 잘".split()

ENGLISH = """
GPU CPU API AI RAG Python cloud server model search index data OpenAI Samsung LG NVIDIA iPhone
Transformer BERT LLM vector embedding Kubernetes Docker Linux SQL Parquet FAISS BM25 Kiwi
""".split()

PARTICLES = [("은", "는"), ("이", "가"), ("을", "를"), ("의", "의"), ("에", "에"), ("에서", "에서"),
             ("으로", "로"), ("과", "와"), ("도", "도"), ("만", "만"), ("까지", "까지")]


def _has_final_consonant(word: str) -> bool:
    last = word[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


def _zipf_probs(n: int, s: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** s
    return p / p.sum()


def make_corpus(n_docs: int, seed: int) -> list[str]:
    """Korean-ish documents: noun + particle phrases ending in a conjugated predicate, plus English."""
    rng = np.random.default_rng(seed)
    nouns = list(rng.permutation(NOUNS))
    noun_p = _zipf_probs(len(nouns), 1.05)
    docs = []
    for _ in range(n_docs):
        sentences = []
        for _ in range(rng.integers(2, 6)):
            words = []
            for _ in range(rng.integers(2, 7)):
                r = rng.random()
                if r < 0.08:
                    noun = ENGLISH[rng.integers(len(ENGLISH))]
                elif r < 0.12:
                    noun = f"{rng.integers(1, 2030)}{['년', '개', '%', '명', '원'][rng.integers(5)]}"
                else:
                    noun = nouns[rng.choice(len(nouns), p=noun_p)]
                with_final, without = PARTICLES[rng.integers(len(PARTICLES))]
                particle = with_final if _has_final_consonant(noun) else without
                words.append(noun + particle if rng.random() < 0.85 else noun)
            if rng.random() < 0.3:
                words.append(ADVERBS[rng.integers(len(ADVERBS))])
            words.append(PREDICATES[rng.integers(len(PREDICATES))])
            sentences.append(" ".join(words) + ".")
        docs.append(" ".join(sentences))
    return docs


def make_queries(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed + 1)
    queries = []
    for _ in range(n):
        words = [NOUNS[rng.integers(len(NOUNS))] for _ in range(rng.integers(1, 4))]
        if rng.random() < 0.3:
            words.append(ENGLISH[rng.integers(len(ENGLISH))])
        if rng.random() < 0.4:
            words.append(PREDICATES[rng.integers(len(PREDICATES))])
        queries.append(" ".join(words))
    return queries


# ----------------------------------------------------------------------------- helpers


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples) * 1e3
    return {"p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
            "mean_ms": float(arr.mean())}


def time_queries(fn, queries: list[list[str]], repeat: int = 1) -> list[float]:
    for q in queries[:5]:
        fn(q)  # warm up
    samples = []
    for q in queries:
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn(q)
            best = min(best, time.perf_counter() - t)
        samples.append(best)
    return samples


def run_fresh(code: str) -> tuple[dict, float]:
    """Run code in a fresh interpreter; give back its printed JSON and the parent-side wall time."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


FIRST_TOKENIZE = """
import json, time
t0 = time.perf_counter()
from gyeol.lexical import KiwiTokenizer
t1 = time.perf_counter()
KiwiTokenizer().tokenize("검색 시스템의 성능이 개선되었다")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_tokenize_s": t2 - t1, "total_s": t2 - t0}))
"""

FIRST_RESULT = """
import json, time
t0 = time.perf_counter()
import gyeol.lexical
from gyeol.config import BM25
t1 = time.perf_counter()
index = gyeol.lexical.BM25Index.load({dir!r}, 0, BM25(), max_labels={n})
t2 = time.perf_counter()
tokens = gyeol.lexical.KiwiTokenizer().tokenize({query!r})
t3 = time.perf_counter()
scores, labels = index.search(tokens, 10)
t4 = time.perf_counter()
assert len(labels) > 0
print(json.dumps({{"import_s": t1 - t0, "index_load_s": t2 - t1, "first_tokenize_s": t3 - t2,
                  "first_search_s": t4 - t3, "total_s": t4 - t0}}))
"""


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank-bm25-queries", type=int, default=None,
                        help="queries timed on rank_bm25 (slow); default: all")
    args = parser.parse_args()

    import bm25s
    import rank_bm25
    from kiwipiepy import Kiwi, __version__ as kiwi_version

    results: dict = {
        "docs": args.docs, "queries": args.queries, "seed": args.seed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": {"numpy": np.__version__, "kiwipiepy": kiwi_version, "bm25s": bm25s.__version__,
                     "rank_bm25": getattr(rank_bm25, "__version__", "0.2.2")},
    }
    print(f"generating {args.docs} documents ...", flush=True)
    texts = make_corpus(args.docs, args.seed)
    query_texts = make_queries(args.queries, args.seed)
    results["avg_chars_per_doc"] = float(np.mean([len(t) for t in texts]))

    # 1. tokenization throughput (both warm: the model load is measured separately below).
    # The shared machine drifts, so the two are timed alternately on the same chunks.
    tokenizer = KiwiTokenizer()
    tokenizer.tokenize_batch(texts[:300])
    raw_kiwi = Kiwi(num_workers=os.cpu_count())
    list(raw_kiwi.tokenize(texts[:300]))
    raw_s = ours_s = 0.0
    corpus_tokens: list[list[str]] = []
    for chunk in np.array_split(np.arange(args.docs), 5):
        chunk_texts = [texts[i] for i in chunk]
        t = time.perf_counter()
        raw_out = list(raw_kiwi.tokenize(chunk_texts))
        raw_s += time.perf_counter() - t
        del raw_out
        t = time.perf_counter()
        corpus_tokens.extend(tokenizer.tokenize_batch(chunk_texts))
        ours_s += time.perf_counter() - t
    query_tokens = tokenizer.tokenize_batch(query_texts)
    results["tokenize"] = {
        "kiwi_raw_docs_per_s": args.docs / raw_s, "gyeol_docs_per_s": args.docs / ours_s,
        "ratio_gyeol_over_raw": raw_s / ours_s, "kiwi_raw_s": raw_s, "gyeol_s": ours_s,
        "avg_terms_per_doc": float(np.mean([len(d) for d in corpus_tokens])),
    }
    first_tok, first_tok_wall = run_fresh(FIRST_TOKENIZE)
    results["cold_first_tokenize"] = dict(first_tok, process_wall_s=first_tok_wall)

    # 2. builds, same tokens
    t = time.perf_counter()
    index = BM25Index(BM25(variant="okapi"))
    index.add(corpus_tokens)
    build_s = time.perf_counter() - t
    index_lucene = BM25Index(BM25(variant="lucene"))
    index_lucene.add(corpus_tokens)
    t = time.perf_counter()
    okapi = rank_bm25.BM25Okapi(corpus_tokens)
    rank_build_s = time.perf_counter() - t
    t = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(corpus_tokens, show_progress=False)
    bm25s_build_s = time.perf_counter() - t
    results["build_s"] = {"gyeol": build_s, "rank_bm25": rank_build_s, "bm25s": bm25s_build_s}
    results["vocabulary_size"] = index.vocabulary_size

    # 3. query latency, k = 10, one query per call
    queries = [q for q in query_tokens if any(tok in index._vocab for tok in q)]
    k = 10
    doc_ids = list(range(args.docs))
    rank_queries = queries[: args.rank_bm25_queries] if args.rank_bm25_queries else queries

    def bm25s_topk(q: list[str]) -> np.ndarray:
        scores = retriever.get_scores(q)
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    lat = {
        "gyeol_okapi": time_queries(lambda q: index.search(q, k), queries, repeat=3),
        "gyeol_lucene": time_queries(lambda q: index_lucene.search(q, k), queries, repeat=3),
        "rank_bm25_get_top_n": time_queries(lambda q: okapi.get_top_n(q, doc_ids, n=k), rank_queries),
        "bm25s_get_scores_topk": time_queries(bm25s_topk, queries, repeat=3),
        "bm25s_retrieve": time_queries(
            lambda q: retriever.retrieve([q], k=k, show_progress=False, n_threads=0), queries, repeat=3
        ),
    }
    results["latency"] = {name: percentiles_ms(s) for name, s in lat.items()}
    ours_okapi = results["latency"]["gyeol_okapi"]["p50_ms"]
    ours_lucene = results["latency"]["gyeol_lucene"]["p50_ms"]
    results["speedup_p50"] = {
        "vs_rank_bm25": results["latency"]["rank_bm25_get_top_n"]["p50_ms"] / ours_okapi,
        "vs_bm25s_get_scores_topk": results["latency"]["bm25s_get_scores_topk"]["p50_ms"] / ours_lucene,
        "vs_bm25s_retrieve": results["latency"]["bm25s_retrieve"]["p50_ms"] / ours_lucene,
    }

    # agreement: the engines should rank the same documents (modulo ties)
    agree_rank, agree_bm25s = [], []
    for q in queries[:100]:
        _, ours = index.search(q, k)
        ref = np.asarray(okapi.get_scores(q))
        agree_rank.append(len(set(ours.tolist()) & set(np.argsort(-ref, kind="stable")[:k].tolist())) / k)
        _, ours_l = index_lucene.search(q, k)
        agree_bm25s.append(len(set(ours_l.tolist()) & set(bm25s_topk(q).tolist())) / k)
        np.testing.assert_allclose(index.get_scores(q), ref, atol=1e-6)
    results["top10_overlap"] = {"okapi_vs_rank_bm25": float(np.mean(agree_rank)),
                                "lucene_vs_bm25s": float(np.mean(agree_bm25s))}

    # 4. cold start to the first keyword result, from a saved index
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp), 0)
        first, first_wall = run_fresh(FIRST_RESULT.format(dir=tmp, n=args.docs, query=query_texts[0]))
    results["cold_first_keyword_result"] = dict(first, process_wall_s=first_wall)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print_table(results)
    print(f"\nsaved {RESULTS.relative_to(ROOT)}")


def print_table(r: dict) -> None:
    tok = r["tokenize"]
    print(f"\n## Keyword benchmark: {r['docs']} documents, {r['queries']} queries, "
          f"{r['machine']['cpus']} CPUs, vocabulary {r['vocabulary_size']}\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| Kiwi raw batch `Kiwi().tokenize(texts)` | {tok['kiwi_raw_docs_per_s']:.0f} docs/s |")
    print(f"| KiwiTokenizer.tokenize_batch | {tok['gyeol_docs_per_s']:.0f} docs/s "
          f"({tok['ratio_gyeol_over_raw']:.2f}x of raw) |")
    ct = r["cold_first_tokenize"]
    print(f"| fresh process -> first tokenization | {ct['total_s']:.2f} s in-process "
          f"(model load {ct['first_tokenize_s']:.2f} s), {ct['process_wall_s']:.2f} s wall |")
    b = r["build_s"]
    print(f"| build: gyeol BM25Index / rank_bm25 / bm25s | {b['gyeol']:.2f} s / {b['rank_bm25']:.2f} s / "
          f"{b['bm25s']:.2f} s |")
    print("\n| query engine (k=10) | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, lat in r["latency"].items():
        print(f"| {name} | {lat['p50_ms']:.3f} | {lat['p95_ms']:.3f} |")
    s = r["speedup_p50"]
    print(f"\nspeedup (p50): {s['vs_rank_bm25']:.0f}x vs rank_bm25 (okapi), "
          f"{s['vs_bm25s_get_scores_topk']:.2f}x vs bm25s get_scores+topk (lucene), "
          f"{s['vs_bm25s_retrieve']:.2f}x vs bm25s.retrieve (lucene)")
    o = r["top10_overlap"]
    print(f"top-10 overlap: okapi vs rank_bm25 {o['okapi_vs_rank_bm25']:.3f}, lucene vs bm25s {o['lucene_vs_bm25s']:.3f}")
    c = r["cold_first_keyword_result"]
    print(f"cold start to first keyword result: {c['total_s']:.2f} s in-process (import {c['import_s']:.2f}, "
          f"index load {c['index_load_s']:.3f}, first tokenize {c['first_tokenize_s']:.2f}, "
          f"first search {c['first_search_s'] * 1e3:.1f} ms), {c['process_wall_s']:.2f} s wall incl. interpreter")


if __name__ == "__main__":
    main()
