"""What every benchmark script shares: command-line sizes, timing, synthetic data, reports, fresh processes.

Scripts import this as a sibling module: `python benchmarks/NAME.py` puts benchmarks/ first on
sys.path, so no script patches sys.path and none imports helpers from another script. (That is
also why no file here may be named like a standard-library module: it would shadow it.)

Every script takes `--out DIR` (where its JSON goes, benchmarks/results/ by default) and
`--smoke` (tiny sizes, a few seconds; the report gets a `_smoke` suffix so a smoke run never
replaces the figures the README quotes). tests/test_benchmarks_smoke.py runs each script so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"
DATA = BENCHMARKS / "data"

# ----------------------------------------------------------------------------- command line


def add_output_args(parser: argparse.ArgumentParser, smoke: str) -> None:
    """Add --out DIR and --smoke (whose help says which sizes it sets) to a script's parser."""
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"directory the JSON report goes to (default: {RESULTS.relative_to(ROOT)}), "
                             "or the report's own path when it ends in .json")
    parser.add_argument("--smoke", action="store_true",
                        help=f"tiny sizes to check the script runs end to end ({smoke}); "
                             "the report name gets a _smoke suffix")


def apply_smoke(args: argparse.Namespace, **sizes: Any) -> argparse.Namespace:
    """Set the given sizes on args when --smoke was passed; give back args."""
    if args.smoke:
        for name, value in sizes.items():
            setattr(args, name, value)
    return args


def report_path(args: argparse.Namespace, stem: str) -> Path:
    """Where a script's JSON report goes: <--out>/<stem>[_smoke].json, or --out itself if it names a .json file."""
    out = Path(args.out)
    if out.suffix == ".json":
        return out
    return out / f"{stem}{'_smoke' if args.smoke else ''}.json"


# ----------------------------------------------------------------------------- timing


def call_seconds(fn: Callable[[Any], Any], items: Iterable[Any], *, repeat: int = 1, warmup: int = 0) -> np.ndarray:
    """Seconds of fn(item) for each item, the best of `repeat` calls each, after `warmup` untimed calls."""
    items = list(items)
    for item in items[:warmup]:
        fn(item)
    out = np.empty(len(items))
    for i, item in enumerate(items):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn(item)
            best = min(best, time.perf_counter() - t0)
        out[i] = best
    return out


def best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Best wall time of fn() over `repeats` calls."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def batch_seconds(fn: Callable[[Any], Any], batch: Any, min_seconds: float) -> float:
    """Best wall time of fn(batch) over repeats lasting at least min_seconds in all."""
    best, spent = float("inf"), 0.0
    while spent < min_seconds or best == float("inf"):
        t0 = time.perf_counter()
        fn(batch)
        took = time.perf_counter() - t0
        best, spent = min(best, took), spent + took
    return best


def alternate_per_call(a: Callable[[int], Any], b: Callable[[int], Any], n: int, rounds: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of a(i) and b(i) for i < n, best of rounds each, the two timed back to back.

    Whichever runs second finds item i's data in cache, so the order flips every item and
    every round.
    """
    for i in range(min(n, 10)):  # warm up
        a(i)
        b(i)
    a_s = np.full(n, np.inf)
    b_s = np.full(n, np.inf)
    for r in range(rounds):
        for i in range(n):
            first, second = (a, b) if (i + r) % 2 == 0 else (b, a)
            t0 = time.perf_counter()
            first(i)
            t1 = time.perf_counter()
            second(i)
            t2 = time.perf_counter()
            a_time, b_time = (t1 - t0, t2 - t1) if first is a else (t2 - t1, t1 - t0)
            a_s[i] = min(a_s[i], a_time)
            b_s[i] = min(b_s[i], b_time)
    return a_s, b_s


def alternate_rounds(contenders: dict[str, tuple[Callable, Callable]], batch: np.ndarray, singles: np.ndarray, *,
                     rounds: int, min_seconds: float) -> dict[str, dict[str, float]]:
    """Batched QPS and single-call p50/p95 of each (batched_fn, single_fn), in alternating rounds.

    The machine may be shared: alternating rounds and keeping each contender's best round
    exposes every contender to the same background load. Single calls get one warm-up call.
    """
    best_batch = {name: float("inf") for name in contenders}
    best_lat: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, (batched, single) in contenders.items():
            best_batch[name] = min(best_batch[name], batch_seconds(batched, batch, min_seconds / rounds))
            lat = call_seconds(single, singles, warmup=1)
            if name not in best_lat or lat.mean() < best_lat[name].mean():
                best_lat[name] = lat
    return {name: {"qps_batched": len(batch) / best_batch[name], "qps_single": 1.0 / best_lat[name].mean(),
                   "p50_ms": float(np.percentile(best_lat[name], 50) * 1e3),
                   "p95_ms": float(np.percentile(best_lat[name], 95) * 1e3)} for name in contenders}


def percentiles_ms(seconds: Iterable[float]) -> dict[str, float]:
    """p50, p95 and mean of samples in seconds, as milliseconds."""
    arr = np.asarray(list(seconds)) * 1e3
    return {"p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
            "mean_ms": float(arr.mean())}


# ----------------------------------------------------------------------------- gyeol's parts, either form
# gyeol's indexes give back (scores, labels) pairs and gyeol.fusion takes label and score arrays; the
# engine redesign (issue 8) makes both a Ranked(labels, scores). These two work with either form.


def labels_scores(hits: Any) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of an index search: a result with .labels/.scores, or a (scores, labels) pair."""
    if hasattr(hits, "labels"):
        return hits.labels, hits.scores
    scores, labels = hits
    return labels, scores


def fusion_function(fusion: str) -> Callable[[list[tuple[np.ndarray, np.ndarray]], list[float], float], np.ndarray]:
    """gyeol.fusion's rrf or relative_score as f([(labels, scores), ...], weights, rrf_k) -> fused labels."""
    from gyeol import fusion as fusions

    if hasattr(fusions, "Fused"):  # sides are Ranked, the result is a Fused
        from gyeol.ranked import Ranked

        if fusion == "rrf":
            return lambda sides, weights, rrf_k: fusions.rrf([Ranked(*s) for s in sides], weights, rrf_k).labels
        return lambda sides, weights, rrf_k: fusions.relative_score([Ranked(*s) for s in sides], weights).labels
    if fusion == "rrf":
        return lambda sides, weights, rrf_k: fusions.rrf([s[0] for s in sides], weights, rrf_k)[0]
    return lambda sides, weights, rrf_k: fusions.relative_score([s[0] for s in sides], [s[1] for s in sides],
                                                                weights)[0]


# ----------------------------------------------------------------------------- synthetic data

KO_NOUNS = """
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

KO_PREDICATES = """
검색했다 발표했습니다 늘어났다 줄어들었다 증가했다 감소했다 개선되었다 확인했다 사용합니다 필요하다
중요하다 빨라졌다 느려졌다 좋았다 어렵다 쉬웠다 만들었다 보여줬다 알려졌다 밝혔다 설명했다 강조했다
지적했다 예상된다 나타났다 높아졌다 낮아졌다 시작했다 끝났다 결정했다 추진한다 도입했다 공개했다
출시했다 준비하고있다 논의했다 검토한다 요구했다 제안했다 참여했다 기록했다 차지했다 이어졌다
달라졌다 바뀌었다 먹었다 마셨다 걸었다 달렸다 읽었다 썼다 들었다 봤다 배웠다 가르쳤다 도와줬다
찾았다 잃었다 얻었다 팔았다 샀다 열렸다 닫혔다 아름답다 추웠다 더웠다 따뜻하다 시원하다 비싸다 싸다
""".split()

KO_ADVERBS = "매우 빠르게 크게 다시 함께 이미 아직 특히 계속 최근 곧 모두 가장 더 잘".split()

EN_TERMS = """
GPU CPU API AI RAG Python cloud server model search index data OpenAI Samsung LG NVIDIA iPhone
Transformer BERT LLM vector embedding Kubernetes Docker Linux SQL Parquet FAISS BM25 Kiwi
""".split()

KO_PARTICLES = [("은", "는"), ("이", "가"), ("을", "를"), ("의", "의"), ("에", "에"), ("에서", "에서"),
                ("으로", "로"), ("과", "와"), ("도", "도"), ("만", "만"), ("까지", "까지")]


def _has_final_consonant(word: str) -> bool:
    last = word[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


def _zipf_probs(n: int, s: float) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1) ** s
    return p / p.sum()


def korean_corpus(n_docs: int, seed: int) -> list[str]:
    """Korean-ish documents: noun + particle phrases ending in a conjugated predicate, some English."""
    rng = np.random.default_rng(seed)
    nouns = list(rng.permutation(KO_NOUNS))
    noun_p = _zipf_probs(len(nouns), 1.05)
    docs = []
    for _ in range(n_docs):
        sentences = []
        for _ in range(rng.integers(2, 6)):
            words = []
            for _ in range(rng.integers(2, 7)):
                r = rng.random()
                if r < 0.08:
                    noun = EN_TERMS[rng.integers(len(EN_TERMS))]
                elif r < 0.12:
                    noun = f"{rng.integers(1, 2030)}{['년', '개', '%', '명', '원'][rng.integers(5)]}"
                else:
                    noun = nouns[rng.choice(len(nouns), p=noun_p)]
                with_final, without = KO_PARTICLES[rng.integers(len(KO_PARTICLES))]
                particle = with_final if _has_final_consonant(noun) else without
                words.append(noun + particle if rng.random() < 0.85 else noun)
            if rng.random() < 0.3:
                words.append(KO_ADVERBS[rng.integers(len(KO_ADVERBS))])
            words.append(KO_PREDICATES[rng.integers(len(KO_PREDICATES))])
            sentences.append(" ".join(words) + ".")
        docs.append(" ".join(sentences))
    return docs


def korean_queries(n: int, seed: int) -> list[str]:
    """Short queries over korean_corpus's vocabulary: 1-3 nouns, sometimes English or a predicate."""
    rng = np.random.default_rng(seed + 1)
    queries = []
    for _ in range(n):
        words = [KO_NOUNS[rng.integers(len(KO_NOUNS))] for _ in range(rng.integers(1, 4))]
        if rng.random() < 0.3:
            words.append(EN_TERMS[rng.integers(len(EN_TERMS))])
        if rng.random() < 0.4:
            words.append(KO_PREDICATES[rng.integers(len(KO_PREDICATES))])
        queries.append(" ".join(words))
    return queries


def gaussian_clusters(n: int, dim: int, seed: int) -> np.ndarray:
    """float32 rows around max(n/500, 8) Gaussian centres (not normalised)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(max(n // 500, 8), dim)).astype(np.float32)
    assign = rng.integers(0, len(centers), n)
    return (centers[assign] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)


def spectral_clusters(n: int, dim: int, *, seed: int, n_clusters: int, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors around n_clusters centres; centres and noise share a decaying spectrum, so
    clusters overlap the way text embeddings do (IVF recall ~0.92 at nprobe = nlist/20)."""
    rng = np.random.default_rng(seed)
    scales = np.arange(1, dim + 1, dtype=np.float32) ** -0.5
    scales *= np.sqrt(dim / np.sum(scales**2))
    rot_c = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    rot_n = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    centres = (rng.standard_normal((n_clusters, dim)).astype(np.float32) * scales) @ rot_c.T
    noise = scales * np.float32(np.sqrt(1.5))
    out = np.empty((n, dim), np.float32)
    draw = np.random.default_rng(seed + 1)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        members = draw.integers(0, n_clusters, m)  # drawn before the noise, as the figures were made
        x = centres[members] + (draw.standard_normal((m, dim)).astype(np.float32) * noise) @ rot_n.T
        out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def hard_clusters(n: int, dim: int, *, seed: int, n_clusters: int) -> np.ndarray:
    """Unit vectors around isotropic Gaussian centres with isotropic noise as large as the centres'
    spread: a point's neighbours are many equally near cluster mates, which 4-bit PQ codes cannot rank
    (fixed defaults at 50k: hybrid recall@10 0.84-0.85, IVF-Flat 1.00). tests/test_tuning.py draws the same way."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def tier_data(n: int, dim: int, nq: int, data: str = "easy", seed: int = 2024) -> tuple[np.ndarray, np.ndarray]:
    """n collection vectors and nq queries of the "easy" (spectral clusters) or "hard" set."""
    if data == "hard":
        both = hard_clusters(n + nq, dim, seed=seed, n_clusters=max(16, n // 500))
    else:
        both = spectral_clusters(n + nq, dim, seed=seed, n_clusters=max(16, n // 50))
    return both[:n], both[n:]  # queries: fresh draws from the same mixture, not in the collection  # (the tier benchmarks: compare_tiers.py, filtered_recall.py)


# ----------------------------------------------------------------------------- reports


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """rows as a markdown table of (key, title) columns; floats to 3 places, "name" left-aligned."""
    head = "| " + " | ".join(title for _, title in columns) + " |"
    rule = "|" + "|".join("---" if key == "name" else "---:" for key, _ in columns) + "|"
    lines = [head, rule]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row[key]
            cells.append(f"{value:.3f}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(path: Path, report: dict[str, Any], *, indent: int = 2) -> None:
    """Write a benchmark's JSON report whole (temp file, then replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def machine() -> dict[str, Any]:
    """The machine a figure was measured on: CPUs, Python, platform."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------------------- fresh processes


def fresh_process(argv: list[str], *, what: str = "child process") -> tuple[dict[str, Any], float]:
    """Run `python *argv` in a new interpreter; give back the JSON of its last stdout line and the wall seconds.

    The protocol: the child times what it measures itself (time.perf_counter() from its first
    line) and prints one JSON object last; the parent's wall time adds interpreter start-up.
    The child inherits the environment, so it imports the same gyeol as this process.
    """
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{what} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def fresh_python(code: str, *args: str, what: str = "child process") -> tuple[dict[str, Any], float]:
    """fresh_process of `python -c code *args`."""
    return fresh_process(["-c", code, *args], what=what)
