# Summarises bench/results/runs.jsonl (one JSON line per run, written by
# bench/run.sh) into the table on stdout and the JSON summary in json_out.
# Per configuration and mode it takes the median over the completed runs;
# failed runs are counted and their first error is shown instead.
# Variables (-v): quick senders receivers size window rate count rate_count
# tmo rounds cores cpu mem kernel commit date disk_before disk_after json_out
# crypto (crypto_bench's JSON line) growth fixture_s plot.

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
        add(bcpu, k, jget($0, "cpu_us_per_msg"))
        add(ccpu, k, jget($0, "client_cpu_us_per_msg"))
        dups[k] += jget($0, "duplicates") + 0
    } else if (err[k] == "") {
        err[k] = jget($0, "error")
        if (err[k] == "")
            err[k] = "incomplete"
    }
}

END {
    order = "remiss/saturation remiss/paced remiss_noaudit/saturation remiss_pg/saturation" \
            " remiss_pg/paced remiss_pg2/saturation remiss_pg2/paced mosquitto/saturation mosquitto/paced" \
            " mosquitto_periodic/saturation mosquitto_periodic/paced rabbitmq/saturation" \
            " rabbitmq/paced rabbitmq_quorum/saturation rabbitmq_quorum/paced nats/saturation" \
            " nats/paced gateway/saturation gateway/paced remiss_grown/saturation remiss_grown/paced remiss_grown_p64/saturation" \
            " remiss_grown_p64/paced remiss_grown_p256/saturation remiss_grown_p256/paced"
    nk = split(order, keys, " ")
    gsz = growth >= 1000000 ? sprintf("%gM", growth / 1000000) : sprintf("%gk", growth / 1000)
    label["mosquitto_periodic/saturation"] = "Mosquitto periodic, saturation"
    label["mosquitto_periodic/paced"] = "Mosquitto periodic, " rate " msgs/s"
    label["rabbitmq_quorum/saturation"] = "RabbitMQ quorum, saturation"
    label["rabbitmq_quorum/paced"] = "RabbitMQ quorum, " rate " msgs/s"
    label["gateway/saturation"] = "remiss HTTP gateways, saturation"
    label["gateway/paced"] = "remiss HTTP gateways, " rate " msgs/s"
    label["nats/saturation"] = "NATS JetStream, saturation"
    label["nats/paced"] = "NATS JetStream, " rate " msgs/s"
    label["remiss_grown/saturation"] = "remiss " gsz " stored, 8 p, sat."
    label["remiss_grown/paced"] = "remiss " gsz " stored, 8 p, " rate "/s"
    label["remiss_grown_p64/saturation"] = "remiss " gsz " stored, 64 p, sat."
    label["remiss_grown_p64/paced"] = "remiss " gsz " stored, 64 p, " rate "/s"
    label["remiss_grown_p256/saturation"] = "remiss " gsz " stored, 256 p, sat."
    label["remiss_grown_p256/paced"] = "remiss " gsz " stored, 256 p, " rate "/s"
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
        m_bcpu[k] = median(bcpu[k])
        m_ccpu[k] = median(ccpu[k])
    }
    verify_us = jget(crypto, "verify_us")
    sign_us = jget(crypto, "sign_us")

    printf "\nremiss benchmark%s: S=%d R=%d, %d B messages, window %d; %d msgs per saturation " \
           "run, %d at %d msgs/s; %d round(s)\n", quick ? " (QUICK)" : "", senders, receivers,
           size, window, count, rate_count, rate, rounds
    printf "machine: %d cores, %s, %s, Linux %s; disk %s ms -> %s ms per 4 KiB sync write\n\n",
           cores, cpu, mem, kernel, disk_before, disk_after
    printf "%-34s %5s %9s %9s %9s %9s %8s %8s %4s\n", "configuration", "runs", "msgs/s",
           "p50 ms", "p99 ms", "p99.9 ms", "brk us", "gen us", "dups"
    for (i = 1; i <= nk; i++) {
        k = keys[i]
        if (!(k in runs))
            continue
        if (done[k] + 0 == 0) {
            printf "%-34s %2d/%-2d  FAILED: %s\n", label[k], 0, runs[k], err[k]
            continue
        }
        # A paced run that fell behind its offered rate measured a backlog,
        # not the latency at that rate: flag it.
        behind = k ~ /\/paced$/ && m_tput[k] != "" && m_tput[k] < 0.95 * rate
        printf "%-34s %2d/%-2d %9s %9s %9s %9s %8s %8s %4d%s\n", label[k], done[k], runs[k],
               cell(m_tput[k], "%.1f"), cell(m_p50[k], "%.3f"), cell(m_p99[k], "%.3f"),
               cell(m_p999[k], "%.3f"), cell(m_bcpu[k], "%.1f"), cell(m_ccpu[k], "%.1f"),
               dups[k], behind ? " *" : ""
        if (behind)
            footnote = 1
        if (done[k] < runs[k])
            printf "%-34s        (failed run: %s)\n", "", err[k]
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
    printf "remiss / RabbitMQ classic durable, confirms (saturation msgs/s): %s   " \
           "(target >= 1.0)\n", cell(ratio_rq, "%.2fx")
    for (i = 1; i <= 3; i++) {
        pk = i == 1 ? "mosquitto_periodic" : i == 2 ? "rabbitmq_quorum" : "nats"
        pv = m_tput[pk "/saturation"]
        ratio_peer[pk] = r != "" && pv > 0 ? r / pv : ""
        if ((pk "/saturation") in runs)
            printf "remiss / %s (saturation msgs/s): %s\n", label[pk "/saturation"],
                   cell(ratio_peer[pk], "%.2fx")
    }
    cpu_r = m_bcpu["remiss/saturation"]
    cpu_verify = cpu_r != "" && verify_us > 0 ? cpu_r / verify_us : ""
    printf "brk us = the broker's CPU (all its threads; for the gateway row remissd and both " \
           "gateways) per message; gen us = the load " \
           "generator's\n"
    printf "remissd CPU per message at saturation: %s us = %s one P-256 verification " \
           "(%s us, sign %s us, this run)   (target <= 2x)\n", cell(cpu_r, "%.1f"),
           cell(cpu_verify, "%.2fx"), cell(verify_us, "%.1f"), cell(sign_us, "%.1f")
    printf "audit log cost (1 - full / audit off):  %s   (target < 20%%)\n",
           cell(audit, "%.1f%%")
    printf "remiss at %d msgs/s: p50 %s ms, p99 %s ms   (targets < 1.5 ms, < 5 ms)\n", rate,
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

    # Growth: each grown-store row against the fresh store with 8 parties.
    fp99 = m_p99["remiss/paced"]
    for (i = 1; i <= 3; i++) {
        gk = i == 1 ? "remiss_grown" : i == 2 ? "remiss_grown_p64" : "remiss_grown_p256"
        gv = m_tput[gk "/saturation"]
        g_tput[gk] = r != "" && r > 0 && gv != "" ? gv / r : ""
        gv = m_p99[gk "/paced"]
        g_p99[gk] = fp99 != "" && fp99 > 0 && gv != "" ? gv / fp99 : ""
        if ((gk "/saturation") in runs)
            printf "%s / fresh 8 parties: throughput %s (target >= 80%%), p99 at %d msgs/s " \
                   "%s (target <= 1.5x)\n", label[gk "/saturation"], cell(g_tput[gk] * 100,
                   "%.0f%%"), rate, cell(g_p99[gk], "%.2fx")
    }
    if (growth > 0)
        printf "growth fixture: %d earlier messages built in %s s\n", growth, fixture_s

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
    printf "  \"mosquitto_periodic_msgs_per_s\": %s,\n",
           num(m_tput["mosquitto_periodic/saturation"], "%.1f") > o
    printf "  \"rabbitmq_quorum_msgs_per_s\": %s,\n",
           num(m_tput["rabbitmq_quorum/saturation"], "%.1f") > o
    printf "  \"nats_msgs_per_s\": %s,\n", num(m_tput["nats/saturation"], "%.1f") > o
    printf "  \"gateway_msgs_per_s\": %s,\n", num(m_tput["gateway/saturation"], "%.1f") > o
    printf "  \"ratio_mosquitto_periodic\": %s,\n", num(ratio_peer["mosquitto_periodic"],
           "%.3f") > o
    printf "  \"ratio_rabbitmq_quorum\": %s,\n", num(ratio_peer["rabbitmq_quorum"], "%.3f") > o
    printf "  \"ratio_nats\": %s,\n", num(ratio_peer["nats"], "%.3f") > o
    printf "  \"remiss_cpu_us_per_msg\": %s,\n", num(cpu_r, "%.1f") > o
    printf "  \"p256_verify_us\": %s,\n  \"p256_sign_us\": %s,\n", num(verify_us, "%.1f"),
           num(sign_us, "%.1f") > o
    printf "  \"cpu_per_verify\": %s,\n", num(cpu_verify, "%.3f") > o
    printf "  \"growth\": {\"stored_messages\": %d, \"fixture_s\": %s", growth,
           fixture_s == "" ? "null" : fixture_s > o
    for (i = 1; i <= 3; i++) {
        gk = i == 1 ? "remiss_grown" : i == 2 ? "remiss_grown_p64" : "remiss_grown_p256"
        printf ", \"%s\": {\"parties\": %d, \"tput_ratio\": %s, \"p99_ratio\": %s}", gk,
               i == 1 ? 8 : i == 2 ? 64 : 256, num(g_tput[gk], "%.3f"),
               num(g_p99[gk], "%.3f") > o
    }
    printf "},\n" > o
    printf "  \"latency_cdf_png\": %s,\n", plot == "" ? "null" : "\"" plot "\"" > o
    printf "  \"configurations\": {\n" > o
    sep = ""
    for (i = 1; i <= nk; i++) {
        k = keys[i]
        if (!(k in runs))
            continue
        printf "%s    \"%s\": {\"runs\": %d, \"complete\": %d, \"msgs_per_s\": %s, " \
               "\"p50_ms\": %s, \"p99_ms\": %s, \"p999_ms\": %s, \"cpu_us_per_msg\": %s, " \
               "\"client_cpu_us_per_msg\": %s, \"duplicates\": %d}", sep, k,
               runs[k], done[k], num(m_tput[k], "%.1f"), num(m_p50[k], "%.3f"),
               num(m_p99[k], "%.3f"), num(m_p999[k], "%.3f"), num(m_bcpu[k], "%.1f"),
               num(m_ccpu[k], "%.1f"), dups[k] > o
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
