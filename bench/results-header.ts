/** The top of a results file that does not exist yet (bench/RESULTS.md has it already). */
export const RESULTS_HEADER = `# Benchmark results

What is measured: **durable TCC transactions per second** through the
coordinator, next to a **baseline** in which the same load generator calls the
same participant's Try and Confirm itself (no coordinator, nothing stored).
Each transaction has N branches (small JSON payloads) on a participant that
answers OK at once; an OK answer means the commit decision is on disk (SQLite
in WAL mode, the WAL fdatasynced by the store before it answers; or InnoDB), and with \`wait=true\` (the default)
that every Confirm has succeeded.

How to run (needs MariaDB/MySQL at 127.0.0.1:3306 as root for the mysql rows):

    npm run bench                                   # standard preset, ~10 min
    node dist/bench/run.js --full                   # everything, + backlog and soak
    node dist/bench/run.js --db sqlite --concurrency 1,64 --branches 2,8 --flow both --seconds 5
    node dist/bench/run.js --help

Setup: the load generator (this process), the coordinator (\`node dist/src/main.js\`)
and the participant (\`dist/bench/participant-server.js\`) are three separate
processes, each with its own event loop, all on the same machine (and so is the
database), over loopback. Each scenario gets a fresh coordinator and a fresh
database (SQLite temp file; MySQL database \`tcc_bench_<timestamp>\`, dropped
afterwards). Every section ends with the legend of its columns.
`;
