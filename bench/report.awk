# Summarises bench/results/runs.jsonl (one JSON line per run, written by
# bench/run.sh) into the table on stdout and the JSON summary in json_out.
# Per configuration and mode it takes the median over the completed runs;
# failed runs are counted and their first error is shown instead.
# Variables (-v): quick senders receivers size window rate count rate_count
# tmo rounds cores cpu mem kernel commit date disk_before disk_after json_out.

# The value of "key" in a flat JSON object line: the raw number, true,
# false, null, or the string without its quotes; "" when absent.
function jget(line, key,    tag, i, s, j, c) {
    tag = "\"" key "\":"
    i = index(line, tag)
    if (i == 0)
        return ""
    s = substr(line, i + length(tag))
    if (substr(s, 1, 1) != "\"") {
        match(s, /^[^,}]*/)
        return substr(s, 1, RLENGTH)
    }
    for (j = 2; j <= length(s); j++) {
        c = substr(s, j, 1)
        if (c == "\\")
            j++
        else if (c == "\"")
            return substr(s, 2, j - 2)
    }
    return substr(s, 2)
}

function median(list,    n, v, i, j, t) {
    n = split(list, v, " ")
    if (n == 0)
        return ""
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
    return n % 2 ? v[(n + 1) / 2] + 0 : (v[n / 2] + v[n / 2 + 1]) / 2
}

function add(arr, k, v) {
    if (v != "" && v != "null")
        arr[k] = arr[k] (arr[k] == "" ? "" : " ") v
}

function num(v, fmt) {
    return v == "" ? "null" : sprintf(fmt, v)
}

function cell(v, fmt) {
    return v == "" ? "-" : sprintf(fmt, v)
}

{
    k = jget($0, "config") "/" jget($0, "mode")
    runs[k]++
    raw = raw (raw == "" ? "" : ",\n    ") $0
    if (jget($0, "complete") == "true") {
        done[k]++
        add(tput, k, jget($0, "msgs_per_s"))
        add(p50, k, jget($0, "p50_ms"))
        add(p99, k, jget($0, "p99_ms"))
        add(p999, k, jget($0, "p999_ms"))
        dups[k] += jget($0, "duplicates") + 0
    } else if (err[k] == "") {
        err[k] = jget($0, "error")
        if (err[k] == "")
            err[k] = "incomplete"
    }
}

END {
    order = "remiss/saturation remiss/paced remiss_noaudit/saturation remiss_pg/saturation" \
            " remiss_pg/paced remiss_pg2/saturation remiss_pg2/paced mosquitto/saturation mosquitto/paced rabbitmq/saturation" \
            " rabbitmq/paced"
    nk = split(order, keys, " ")
    label["remiss/saturation"] = "remiss full path, saturation"
    label["remiss/paced"] = "remiss full path, " rate " msgs/s"
    label["remiss_noaudit/saturation"] = "remiss audit off, saturation"
    label["remiss_pg/saturation"] = "remiss on PostgreSQL, saturation"
    label["remiss_pg/paced"] = "remiss on PostgreSQL, " rate " msgs/s"
    label["remiss_pg2/saturation"] = "remiss PG, 2 nodes, saturation"
    label["remiss_pg2/paced"] = "remiss PG, 2 nodes, " rate " msgs/s"
    label["mosquitto/saturation"] = "Mosquitto, saturation"
    label["mosquitto/paced"] = "Mosquitto, " rate " msgs/s"
    label["rabbitmq/saturation"] = "RabbitMQ, saturation"
    label["rabbitmq/paced"] = "RabbitMQ, " rate " msgs/s"
    for (i = 1; i <= nk; i++) {
        k = keys[i]
        m_tput[k] = median(tput[k])
        m_p50[k] = median(p50[k])
        m_p99[k] = median(p99[k])
        m_p999[k] = median(p999[k])
    }

    printf "\nremiss benchmark%s: S=%d R=%d, %d B messages, window %d; %d msgs per saturation " \
           "run, %d at %d msgs/s; %d round(s)\n", quick ? " (QUICK)" : "", senders, receivers,
           size, window, count, rate_count, rate, rounds
    printf "machine: %d cores, %s, %s, Linux %s; disk %s ms -> %s ms per 4 KiB sync write\n\n",
           cores, cpu, mem, kernel, disk_before, disk_after
    printf "%-32s %5s %9s %10s %10s %10s %5s\n", "configuration", "runs", "msgs/s", "p50 ms",
           "p99 ms", "p99.9 ms", "dups"
    for (i = 1; i <= nk; i++) {
        k = keys[i]
        if (!(k in runs))
            continue
        if (done[k] + 0 == 0) {
            printf "%-32s %2d/%-2d  FAILED: %s\n", label[k], 0, runs[k], err[k]
            continue
        }
        # A paced run that fell behind its offered rate measured a backlog,
        # not the latency at that rate: flag it.
        behind = k ~ /\/paced$/ && m_tput[k] != "" && m_tput[k] < 0.95 * rate
        printf "%-32s %2d/%-2d %9s %10s %10s %10s %5d%s\n", label[k], done[k], runs[k],
               cell(m_tput[k], "%.1f"), cell(m_p50[k], "%.3f"), cell(m_p99[k], "%.3f"),
               cell(m_p999[k], "%.3f"), dups[k], behind ? " *" : ""
        if (behind)
            footnote = 1
        if (done[k] < runs[k])
            printf "%-32s        (failed run: %s)\n", "", err[k]
    }

    if (footnote)
        printf "* did not keep up with the offered %d msgs/s: its latencies include a growing " \
               "backlog\n", rate
    r = m_tput["remiss/saturation"]
    mq = m_tput["mosquitto/saturation"]
    rq = m_tput["rabbitmq/saturation"]
    na = m_tput["remiss_noaudit/saturation"]
    ratio_mq = r != "" && mq > 0 ? r / mq : ""
    ratio_rq = r != "" && rq > 0 ? r / rq : ""
    audit = r != "" && na > 0 ? (na - r) / na * 100 : ""
    printf "\nremiss / Mosquitto (saturation msgs/s): %s   (target >= 1.0)\n",
           cell(ratio_mq, "%.2fx")
    printf "remiss / RabbitMQ  (saturation msgs/s): %s   (target >= 2.0)\n",
           cell(ratio_rq, "%.2fx")
    printf "audit log cost (1 - full / audit off):  %s   (target < 20%%)\n",
           cell(audit, "%.1f%%")
    printf "remiss at %d msgs/s: p50 %s ms, p99 %s ms   (targets < 1 ms, < 5 ms)\n", rate,
           cell(m_p50["remiss/paced"], "%.3f"), cell(m_p99["remiss/paced"], "%.3f")
    pgr = m_tput["remiss_pg/saturation"]
    ratio_pg = r != "" && r > 0 && pgr != "" ? pgr / r : ""
    if ("remiss_pg/saturation" in runs) {
        printf "PostgreSQL / SQLite (saturation msgs/s): %s   (target >= 0.5)\n",
               cell(ratio_pg, "%.2fx")
        printf "remiss on PostgreSQL at %d msgs/s: p99 %s ms   (target < 10 ms)\n", rate,
               cell(m_p99["remiss_pg/paced"], "%.3f")
    }
    if ("remiss_pg2/paced" in runs)
        printf "two nodes (senders on one, receivers on the other) at %d msgs/s: " \
               "p50 %s ms, p99 %s ms (cross-node delivery)\n", rate,
               cell(m_p50["remiss_pg2/paced"], "%.3f"), cell(m_p99["remiss_pg2/paced"], "%.3f")

    o = json_out
    printf "{\n" > o
    printf "  \"remiss_msgs_per_s\": %s,\n", num(r, "%.1f") > o
    printf "  \"remiss_noaudit_msgs_per_s\": %s,\n", num(na, "%.1f") > o
    printf "  \"remiss_pg_msgs_per_s\": %s,\n", num(pgr, "%.1f") > o
    printf "  \"ratio_pg_sqlite\": %s,\n", num(ratio_pg, "%.3f") > o
    printf "  \"pg_p99_ms\": %s,\n", num(m_p99["remiss_pg/paced"], "%.3f") > o
    printf "  \"remiss_pg2_msgs_per_s\": %s,\n", num(m_tput["remiss_pg2/saturation"], "%.1f") > o
    printf "  \"pg2_p50_ms\": %s,\n", num(m_p50["remiss_pg2/paced"], "%.3f") > o
    printf "  \"pg2_p99_ms\": %s,\n", num(m_p99["remiss_pg2/paced"], "%.3f") > o
    printf "  \"mosquitto_msgs_per_s\": %s,\n", num(mq, "%.1f") > o
    printf "  \"rabbitmq_msgs_per_s\": %s,\n", num(rq, "%.1f") > o
    printf "  \"ratio_mosquitto\": %s,\n", num(ratio_mq, "%.3f") > o
    printf "  \"ratio_rabbitmq\": %s,\n", num(ratio_rq, "%.3f") > o
    printf "  \"p50_ms\": %s,\n", num(m_p50["remiss/paced"], "%.3f") > o
    printf "  \"p99_ms\": %s,\n", num(m_p99["remiss/paced"], "%.3f") > o
    printf "  \"p999_ms\": %s,\n", num(m_p999["remiss/paced"], "%.3f") > o
    printf "  \"audit_cost_pct\": %s,\n", num(audit, "%.1f") > o
    printf "  \"mosquitto_p50_ms\": %s,\n", num(m_p50["mosquitto/paced"], "%.3f") > o
    printf "  \"mosquitto_p99_ms\": %s,\n", num(m_p99["mosquitto/paced"], "%.3f") > o
    printf "  \"rabbitmq_p50_ms\": %s,\n", num(m_p50["rabbitmq/paced"], "%.3f") > o
    printf "  \"rabbitmq_p99_ms\": %s,\n", num(m_p99["rabbitmq/paced"], "%.3f") > o
    printf "  \"configurations\": {\n" > o
    sep = ""
    for (i = 1; i <= nk; i++) {
        k = keys[i]
        if (!(k in runs))
            continue
        printf "%s    \"%s\": {\"runs\": %d, \"complete\": %d, \"msgs_per_s\": %s, " \
               "\"p50_ms\": %s, \"p99_ms\": %s, \"p999_ms\": %s, \"duplicates\": %d}", sep, k,
               runs[k], done[k], num(m_tput[k], "%.1f"), num(m_p50[k], "%.3f"),
               num(m_p99[k], "%.3f"), num(m_p999[k], "%.3f"), dups[k] > o
        sep = ",\n"
    }
    printf "\n  },\n" > o
    printf "  \"setup\": {\"quick\": %s, \"senders\": %d, \"receivers\": %d, \"size\": %d, " \
           "\"window\": %d, \"rate\": %d, \"count\": %d, \"rate_count\": %d, " \
           "\"timeout_s\": %d, \"rounds\": %d},\n", quick ? "true" : "false", senders,
           receivers, size, window, rate, count, rate_count, tmo, rounds > o
    printf "  \"machine\": {\"cores\": %d, \"cpu\": \"%s\", \"memory\": \"%s\", " \
           "\"kernel\": \"%s\", \"disk_sync_write_ms_before\": %s, " \
           "\"disk_sync_write_ms_after\": %s},\n", cores, cpu, mem, kernel,
           num(disk_before, "%.3f"), num(disk_after, "%.3f") > o
    printf "  \"commit\": \"%s\",\n  \"date\": \"%s\",\n", commit, date > o
    printf "  \"runs\": [\n    %s\n  ]\n}\n", raw > o
    close(o)
    printf "\nwritten: %s\n", json_out
}
