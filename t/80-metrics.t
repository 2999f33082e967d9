#!/usr/bin/perl

# Metrics (docs/operations.md): the tickets_metrics handler answers the
# Prometheus text format 0.0.4, checked here by a strict parser; the
# counters of a known sequence of requests served by both workers go up by
# exactly what was asked; histograms are cumulative with _count equal to
# +Inf; the $tickets_* variables reach the access log; a reload keeps the
# counts; a zone too small drops series, counts them and serves on; the
# outbox gauges agree with the database after queued, failed and delivered
# notifications; the escalation job is seen.

use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use Tickets::Sink;
use Tickets::Test;

my $API = '/api/TicketsApi';
my $JSON = JSON::PP->new->utf8->canonical;
my $ZONE = "    tickets_metrics_zone 1m;\n";
my $LOG = <<'EOF';
    log_format metrics escape=json '{"pid":"$pid","status":"$status",'
        '"route":"$tickets_route","user":"$tickets_user",'
        '"db":"$tickets_db_time","queue":"$tickets_queue_time",'
        '"id":"$tickets_request_id"}';
EOF
my $METRICS = "        location = /metrics { tickets_metrics; }\n";

my $t = Tickets::Test->new;
my $dir = $t->dir;

$t->run(listen_extra => ' reuseport', http_extra => $ZONE . $LOG
    . "    access_log $dir/metrics.log metrics;\n",
    server_extra => $METRICS);

my $admin = $t->token('admin');
my $admin_id = $t->user_id('admin');


# A strict parser of the text format ---------------------------------------

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LABEL = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $FLOAT = qr/[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+|Inf|NaN)/;

# (families, errors): families{name} = {type, help, samples => [[name,
# {labels}, value]]}
sub parse_metrics {
    my ($text) = @_;
    my (%fam, @err, %seen_series, %done, $cur);
    push @err, 'does not end with a newline' unless $text =~ /\n\z/;
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        next if $line eq '';
        if ($line =~ /^# (HELP|TYPE) ($NAME) ?(.*)$/) {
            my ($kw, $name, $rest) = ($1, $2, $3);
            if ($done{$name}) {
                push @err, "line $n: $name comes back after other families";
            }
            if ($cur && $cur ne $name) { $done{$cur} = 1 }
            $cur = $name;
            my $f = $fam{$name} //= { samples => [] };
            if ($kw eq 'TYPE') {
                push @err, "line $n: second TYPE of $name" if $f->{type};
                push @err, "line $n: TYPE of $name after its samples"
                    if @{$f->{samples}};
                push @err, "line $n: bad type $rest" unless $rest =~
                    /^(counter|gauge|histogram|summary|untyped)$/;
                $f->{type} = $rest;
            } else {
                push @err, "line $n: second HELP of $name" if defined $f->{help};
                push @err, "line $n: bad escape in HELP"
                    if $rest =~ /\\(?![\\n])/;
                $f->{help} = $rest;
            }
            next;
        }
        if ($line =~ /^#/) { next }
        unless ($line =~ /^($NAME)(?:\{(.*)\})? ($FLOAT)(?: (-?\d+))?$/) {
            push @err, "line $n: not a sample: $line";
            next;
        }
        my ($name, $labels, $value) = ($1, $2 // '', $3);
        my %l;
        my $rest = $labels;
        while ($rest ne '') {
            unless ($rest =~ s/^($LABEL)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//) {
                push @err, "line $n: bad labels {$labels}";
                last;
            }
            my ($k, $v) = ($1, $2);
            push @err, "line $n: label $k twice" if exists $l{$k};
            $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
            $l{$k} = $v;
        }
        my $base = $name;
        my $f = $fam{$name};
        if (!$f) {
            ($base = $name) =~ s/_(bucket|sum|count)$//;
            $f = $fam{$base};
            push @err, "line $n: $name outside a histogram"
                if $f && ($f->{type} // '') ne 'histogram';
        }
        unless ($f && $f->{type}) {
            push @err, "line $n: $name has no TYPE";
            next;
        }
        push @err, "line $n: $name is not in the family $cur"
            if ($cur // '') ne $base;
        my $key = $name . '{' . join(',', map { "$_=$l{$_}" } sort keys %l)
            . '}';
        push @err, "line $n: series $key twice" if $seen_series{$key}++;
        push @err, "line $n: a counter not named _total: $name"
            if $f->{type} eq 'counter' && $name !~ /_total$/;
        push @{$f->{samples}}, [$name, \%l, $value];
    }
    for my $name (sort keys %fam) {
        my $f = $fam{$name};
        push @err, "$name has no HELP" unless defined $f->{help};
        next unless ($f->{type} // '') eq 'histogram';
        push @err, histogram_errors($name, $f);
    }
    return (\%fam, \@err);
}

# Buckets ascending and cumulative, +Inf equal to _count, a _sum; per
# label set (every label but le).
sub histogram_errors {
    my ($name, $f) = @_;
    my (%sets, @err);
    for my $s (@{$f->{samples}}) {
        my ($n, $l, $v) = @$s;
        my %k = %$l;
        my $le = delete $k{le};
        my $key = join ',', map { "$_=$k{$_}" } sort keys %k;
        if ($n eq "${name}_bucket") {
            push @err, "$name\{$key}: a bucket without le" unless defined $le;
            push @{$sets{$key}{buckets}}, [$le, $v];
        } elsif ($n eq "${name}_sum") {
            $sets{$key}{sum} = $v;
        } elsif ($n eq "${name}_count") {
            $sets{$key}{count} = $v;
        } else {
            push @err, "$name: stray $n";
        }
    }
    for my $key (sort keys %sets) {
        my $s = $sets{$key};
        my @b = @{$s->{buckets} // []};
        push @err, "$name\{$key}: no buckets" unless @b;
        push @err, "$name\{$key}: no _sum" unless defined $s->{sum};
        push @err, "$name\{$key}: no _count" unless defined $s->{count};
        next unless @b && defined $s->{count};
        push @err, "$name\{$key}: the last bucket is not +Inf"
            unless $b[-1][0] eq '+Inf';
        for my $i (1 .. $#b) {
            my $prev = $b[$i - 1][0] eq '+Inf' ? 9**9**9 : $b[$i - 1][0];
            my $this = $b[$i][0] eq '+Inf' ? 9**9**9 : $b[$i][0];
            push @err, "$name\{$key}: le not ascending at $b[$i][0]"
                unless $this > $prev;
            push @err, "$name\{$key}: not cumulative at le=$b[$i][0]"
                unless $b[$i][1] >= $b[$i - 1][1];
        }
        push @err, "$name\{$key}: +Inf $b[-1][1] but _count $s->{count}"
            unless $b[-1][1] == $s->{count};
        next unless defined $s->{sum};
        push @err, "$name\{$key}: negative _sum" if $s->{sum} < 0;
        push @err, "$name\{$key}: _sum $s->{sum} of no observation"
            if $s->{count} == 0 && $s->{sum} != 0;
    }
    return @err;
}

# The parser must refuse what is wrong, or its passes mean nothing.
{
    my $good = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
        . "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
        . "h_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n";
    my (undef, $e) = parse_metrics($good);
    is_deeply $e, [], 'parser: a good exposition passes';
    for my $bad (
        [s => 'h_count 2', 'h_count 3', '+Inf differs from _count'],
        [s => 'h_bucket{le="1"} 1', 'h_bucket{le="1"} 3', 'not cumulative'],
        [s => "h_bucket{le=\"+Inf\"} 2\n", '', 'no +Inf'],
        [s => 'a_total 1', 'a_total{x="\q"} 1', 'a bad escape'],
        [s => 'a_total 1', 'a_total one', 'a bad value'],
        [s => "# TYPE a_total counter\n", '', 'no TYPE'],
        [s => 'a_total 1', "a_total 1\na_total 2", 'a series twice'],
        [s => "h_sum 0.5\n", '', 'no _sum'],
        [a => "a_total 3\n", 'a family split in two'],
    ) {
        my $text = $good;
        if ($bad->[0] eq 's') { $text =~ s/\Q$bad->[1]\E/$bad->[2]/ }
        else { $text .= $bad->[1] }
        my (undef, $err) = parse_metrics($text);
        ok @$err, "parser refuses: $bad->[-1]";
    }
}


# Helpers ------------------------------------------------------------------

# A request on a connection of its own, with a request id of its own.
# It returns when the request is in the access log: the metrics count a
# request before the access log writes it (their log phase handler goes
# first), so it is counted then.
my $rid = 0;
sub raw {
    my ($method, $path, %o) = @_;
    my $inst = $o{inst} // $t;
    my $id = 'metrics-' . ++$rid;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $inst->port, Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    my $body = $o{body} // '';
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nX-Request-Id: $id\r\n"
        . ($o{token} ? "Authorization: Bearer $o{token}\r\n" : '')
        . ($o{type} ? "Content-Type: $o{type}\r\n" : '')
        . (length $body || $method eq 'POST'
           ? 'Content-Length: ' . length($body) . "\r\n" : '')
        . "\r\n$body";
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    close $s;
    logged($inst, $id);
    my ($status) = $resp =~ m{^HTTP/1\.1 (\d{3})};
    return $status // 0;
}

# Waits (10 s at most) until the access log has the request ids.
sub logged {
    my ($inst, @ids) = @_;
    my $until = time + 10;
    while (time < $until) {
        my $log = Tickets::Test::_slurp($inst->dir . '/access.log');
        return 1 unless grep { $log !~ /rid=\Q$_\E$/m } @ids;
        sleep 0.01;
    }
    diag "not in the access log: @ids";
    return 0;
}

sub scrape {
    my ($inst) = @_;
    my $r = ($inst // $t)->http(GET => '/metrics');
    is $r->{status}, 200, 'scrape: 200';
    is $r->{headers}{'content-type'},
        'text/plain; version=0.0.4; charset=utf-8', 'scrape: content type';
    my ($fam, $err) = parse_metrics($r->{content});
    is_deeply $err, [], 'scrape: the exposition parses strictly'
        or diag $r->{content};
    return $fam;
}

# The value of one series (0 when absent: a counter not yet used).
sub value {
    my ($fam, $name, %labels) = @_;
    (my $base = $name) =~ s/_(bucket|sum|count)$//;
    my $f = $fam->{$name} // $fam->{$base} // return 0;
    for my $s (@{$f->{samples}}) {
        next unless $s->[0] eq $name;
        my $l = $s->[1];
        next unless keys %$l == keys %labels;
        next if grep { ($l->{$_} // "\0") ne $labels{$_} } keys %labels;
        return $s->[2];
    }
    return 0;
}

sub wait_sql {
    my ($sql, $timeout) = @_;
    my $until = time + ($timeout // 10);
    while (time < $until) {
        return 1 if ($t->psql($sql) // '') eq 't';
        sleep 0.1;
    }
    return 0;
}

sub workers {
    my ($master) = Tickets::Test::_slurp("$dir/nginx.pid") =~ /(\d+)/;
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = Tickets::Test::_slurp($stat);
        push @w, $1 if $s =~ /^(\d+) \(nginx\) [^Z] (\d+) / && $2 == $master;
    }
    return ($master, sort @w);
}


# A known sequence, over both workers ------------------------------------

my $before = scrape();
my $id_route = "$API/{id}";
my $other = Tickets::Test::random_secret(48);
my %want;           # "route method class" => count
my @sequence = (
    ([GET => "$API/1", $admin, 200, $id_route]) x 12,
    ([HEAD => "$API/1", $admin, 200, $id_route]) x 3,
    ([GET => "$API/999999", $admin, 404, $id_route]) x 3,
    ([GET => "$API/1", undef, 401, $id_route, 'missing']) x 4,
    ([GET => "$API/1", 'not.a.token', 401, $id_route, 'malformed']) x 2,
    [GET => "$API/1", $t->token('admin', secret => $other), 401, $id_route,
     'signature'],
    [GET => "$API/1", $t->token('admin', exp => int(time) - 3600), 401,
     $id_route, 'expired'],
    [GET => "$API/1", $t->token('admin', header => { alg => 'HS512' }), 401,
     $id_route, 'algorithm'],
    [GET => "$API/1", $t->token(undef, sub => 'no-such-user',
        exp => int(time) + 600, iat => int(time), nbf => int(time),
        role => 'Admin', permissions => []), 401, $id_route,
     'unknown_user'],
    ([GET => '/api/nothing', $admin, 404, 'unmatched']) x 2,
    [DELETE => '/api/health', undef, 405, 'unmatched'],
    ([GET => '/api/health', undef, 200, '/api/health']) x 5,
    ([GET => "$API/1/history", $admin, 200, "$API/{id}/history"]) x 4,
);
my %causes;
my %pids_of;
for my $q (@sequence) {
    my ($method, $path, $token, $status, $route, $cause) = @$q;
    my $got = raw($method, $path, token => $token);
    is $got, $status, "$method $path: $status"
        . ($cause ? " ($cause)" : '');
    $want{"$route $method " . substr($got, 0, 1) . 'xx'}++;
    $causes{$cause}++ if $cause;
}

# logins: two good, failures until throttled (login_max_failures 2)
$t->ctl_ok('setting', 'set', 'login_max_failures', '2');
my $form = 'application/x-www-form-urlencoded';
my %logins;
for my $q (['admin', 'demo', 200, 'success'],
           ['admin', 'demo', 200, 'success'],
           ['tech1', 'wrong', 401, 'failure'],
           ['tech1', 'wrong', 401, 'failure'],
           ['tech1', 'demo', 429, 'throttled'])
{
    my $got = raw(POST => '/api/auth/token', type => $form,
        body => "username=$q->[0]&password=$q->[1]");
    is $got, $q->[2], "login $q->[0]/$q->[1]: $q->[2]";
    $want{"/api/auth/token POST " . substr($got, 0, 1) . 'xx'}++;
    $logins{$q->[3]}++;
}

my $after = scrape();

my $total = 0;
for my $k (sort keys %want) {
    my ($route, $method, $class) = split / /, $k;
    my %l = (route => $route, method => $method, status => $class);
    is value($after, 'tickets_http_requests_total', %l)
        - value($before, 'tickets_http_requests_total', %l), $want{$k},
        "tickets_http_requests_total{$k} went up by $want{$k}";
    $total += $want{$k};
}
my $sum_all = sub {
    my ($fam) = @_;
    my $n = 0;
    $n += $_->[2] for @{$fam->{tickets_http_requests_total}{samples} // []};
    return $n;
};
is $sum_all->($after) - $sum_all->($before), $total,
    "and nothing else was counted ($total requests; scrapes are not)";

for my $c (sort keys %causes) {
    is value($after, 'tickets_jwt_refusals_total', cause => $c)
        - value($before, 'tickets_jwt_refusals_total', cause => $c),
        $causes{$c}, "tickets_jwt_refusals_total{cause=$c} +$causes{$c}";
}
for my $res (qw(success failure throttled)) {
    is value($after, 'tickets_logins_total', result => $res)
        - value($before, 'tickets_logins_total', result => $res),
        $logins{$res}, "tickets_logins_total{result=$res} +$logins{$res}";
}

# the request histogram counts every request of its route
my %by_route;
$by_route{(split / /)[0]} += $want{$_} for keys %want;
for my $route (sort keys %by_route) {
    my $c = value($after, 'tickets_http_request_duration_seconds_count',
        route => $route) - value($before,
        'tickets_http_request_duration_seconds_count', route => $route);
    is $c, $by_route{$route}, "duration histogram of $route: +$c";
}

# every task (the routes that reach the database) waited in the queue
# and is seen by the database histogram of its operation
my $tasks = $want{"$id_route GET 2xx"} + $want{"$id_route HEAD 2xx"}
    + $want{"$id_route GET 4xx"} - $causes{missing} - $causes{malformed}
    - $causes{signature} - $causes{expired} - $causes{algorithm}
    + 5 + 4 + 5;
is value($after, 'tickets_thread_pool_queue_seconds_count')
    - value($before, 'tickets_thread_pool_queue_seconds_count'), $tasks,
    "thread pool queue histogram: one per task ($tasks)";
is value($after, 'tickets_db_duration_seconds_count',
    operation => 'ticket_get')
    - value($before, 'tickets_db_duration_seconds_count',
    operation => 'ticket_get'), 12 + 3 + 3 + 1,
    'db histogram of ticket_get: one per GET/HEAD that ran (unknown user '
    . 'included)';
is value($after, 'tickets_db_duration_seconds_count', operation => 'history')
    - value($before, 'tickets_db_duration_seconds_count',
    operation => 'history'), 4, 'db histogram of history: 4';
cmp_ok value($after, 'tickets_db_duration_seconds_sum',
    operation => 'ticket_get'), '>', 0, 'db time of ticket_get: above 0';
cmp_ok value($after, 'tickets_db_round_trips_total',
    operation => 'ticket_get'), '>=', 19, 'round trips: at least one each';
is value($after, 'tickets_build_info', version => '0.1.0',
    nginx => (`$Tickets::Test::NGINX -v 2>&1` =~ m{nginx/(\S+)})[0]), 1,
    'tickets_build_info{version="0.1.0"} 1';

# both workers served, as the access log says, with the variables
my @log = map { $JSON->decode($_) }
    split /\n/, Tickets::Test::_slurp("$dir/metrics.log");
my %pids = map { $_->{pid} => 1 } @log;
cmp_ok scalar(keys %pids), '>=', 2, 'both workers served the sequence ('
    . join(', ', sort keys %pids) . ')';
my @gets = grep { $_->{route} eq $id_route && $_->{status} eq '200' } @log;
is scalar(@gets), 15, 'access log: $tickets_route of the GETs and HEADs';
is_deeply [grep { $_->{user} ne $admin_id } @gets], [],
    'access log: $tickets_user is the token\'s user';
is_deeply [grep { $_->{db} !~ /^\d+\.\d{6}$/ || $_->{queue} !~ /^\d+\.\d{6}$/ }
    @gets], [], 'access log: $tickets_db_time and $tickets_queue_time';
my ($missing) = grep { $_->{status} eq '401' && $_->{user} eq '' } @log;
ok $missing && $missing->{db} eq '', 'a request refused before any task: '
    . 'no user, no database time';
ok !(grep { $_->{id} eq '' } @log), 'access log: the request id';
my ($unmatched) = grep { $_->{status} eq '404' && $_->{route} eq 'unmatched' }
    @log;
ok $unmatched, 'access log: $tickets_route "unmatched"';


# A reload keeps the counts -------------------------------------------------

my ($master, @old) = workers();
kill 'HUP', $master;
my $until = time + 20;
my @new;
while (time < $until) {
    (undef, @new) = workers();
    my %o = map { $_ => 1 } @old;
    last if @new == 2 && !grep { $o{$_} } @new;
    sleep 0.1;
}
ok @new == 2 && !(grep { my $n = $_; grep { $_ == $n } @old } @new),
    'reload: new workers';
my $reloaded = scrape();
is value($reloaded, 'tickets_metrics_zone_created_timestamp_seconds'),
    value($after, 'tickets_metrics_zone_created_timestamp_seconds'),
    'reload: the same zone';
is $sum_all->($reloaded), $sum_all->($after),
    'reload: tickets_http_requests_total kept';
is value($reloaded, 'tickets_http_requests_total', route => $id_route,
    method => 'GET', status => '2xx'), value($after,
    'tickets_http_requests_total', route => $id_route, method => 'GET',
    status => '2xx'), 'reload: the GETs kept';
is raw(GET => "$API/1", token => $admin), 200, 'after the reload: a GET';
my $again = scrape();
is value($again, 'tickets_http_requests_total', route => $id_route,
    method => 'GET', status => '2xx') - value($reloaded,
    'tickets_http_requests_total', route => $id_route, method => 'GET',
    status => '2xx'), 1, 'after the reload: counted on top';


# A zone too small ----------------------------------------------------------

{
    my $small = Tickets::Test->new(pg_from => $t);
    $small->run(http_extra => "    tickets_metrics_zone 8k;\n",
        server_extra => $METRICS);
    is $small->http(GET => "$API/1", token => $small->token('admin'))
        ->{status}, 200, 'zone of 8k: the API works';
    my $fam = scrape($small);
    cmp_ok value($fam, 'tickets_metrics_series_dropped_total'), '>', 0,
        'zone of 8k: tickets_metrics_series_dropped_total counts what did '
        . 'not fit';
    ok exists $fam->{tickets_jwt_refusals_total}, 'zone of 8k: what fit '
        . 'is shown';
    like $small->error_log, qr/\[warn\].*"tickets_metrics_zone" is too small/,
        'zone of 8k: a warning at start';
    my ($ok, $out) = $small->nginx_t(http_extra =>
        "    tickets_metrics_zone 4k;\n");
    ok !$ok, 'a zone under two pages: nginx -t fails';
    like $out, qr/tickets_metrics_zone.*at least/, 'and says why';
    ($ok, $out) = $small->nginx_t(http_extra => '');
    ok !$ok, 'tickets_metrics without a zone: nginx -t fails';
    $small->stop;
}


# The thread pool queue full: 503, counted ---------------------------------

{
    # one thread, one place in the queue, and logins (a password hash
    # each) sent at once: those that find the queue full are refused
    my $busy = Tickets::Test->new(pg_from => $t);
    $busy->run(main_extra => "thread_pool one threads=1 max_queue=1;\n",
        http_extra => $ZONE,
        server_extra => $METRICS . "        tickets_thread_pool one;\n");
    my $body = 'username=admin&password=demo';
    my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $busy->port, Proto => 'tcp', Timeout => 10)
            or die "connect: $!"
    } 1 .. 8;
    my $n = 0;
    for my $s (@socks) {
        $n++;
        print $s "POST /api/auth/token HTTP/1.1\r\nHost: x\r\n"
            . "X-Request-Id: busy-$n\r\n"
            . "Connection: close\r\nContent-Type: $form\r\n"
            . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    }
    my %st;
    for my $s (@socks) {
        local $/;
        my $resp = <$s> // '';
        my ($code) = $resp =~ m{^HTTP/1\.1 (\d{3})};
        $st{$code // 0}++;
        like $resp, qr/overloaded/, '503: "The service is overloaded."'
            if ($code // 0) == 503;
        close $s;
    }
    logged($busy, map { "busy-$_" } 1 .. 8);
    note 'statuses: ' . join ', ', map { "$_ x $st{$_}" } sort keys %st;
    cmp_ok $st{503} // 0, '>', 0, 'the queue overflowed: some 503';
    is +($st{200} // 0) + ($st{503} // 0), 8, 'the others logged in';
    my $fam = scrape($busy);
    is value($fam, 'tickets_thread_pool_rejected_total'), $st{503} // 0,
        'tickets_thread_pool_rejected_total counts each 503';
    is value($fam, 'tickets_http_requests_total', route => '/api/auth/token',
        method => 'POST', status => '5xx'), $st{503} // 0,
        'and tickets_http_requests_total has them as 5xx';
    $busy->stop;
}


# The outbox, read from the database at scrape time ------------------------

if (system("$Tickets::Sink::PYTHON -c 'import aiosmtpd' 2>/dev/null")) {
    diag 'the outbox part needs /usr/bin/python3 with aiosmtpd';
    done_testing;
    exit 0;
}

my $sink = Tickets::Sink->new(dir => "$dir/sink");
$t->ctl_ok('setting', 'set', 'smtp_url', $sink->smtp_url);
$t->ctl_ok('setting', 'set', 'push_url', '');
$t->ctl_ok('setting', 'set', 'webhook_url', '');

sub outbox_sql {
    my ($what, $channel) = @_;
    return scalar $t->psql("SELECT $what FROM outbox WHERE channel = '"
        . "$channel'");
}

# jobs are off: what is written stays pending
for my $i (1 .. 3) {
    my $r = $t->form_post("$API/reply/1", [Id => 1, Title => "Metrics $i",
        SendTo => "m$i\@example.com", Message => 'x'], token => $admin);
    is $r->{status}, 200, "reply $i: queued an email";
}
my $tech1 = $t->user_id('tech1');
my $r = $t->form_post("$API/update/2", [AssignedUser => $tech1],
    token => $admin);
is $r->{status}, 204, 'update: queued a push';

my $fam = scrape();
is value($fam, 'tickets_outbox_up'), 1, 'tickets_outbox_up 1';
for my $ch (qw(email push subscription tpi webhook)) {
    my $pending = outbox_sql("count(*) FILTER (WHERE status = 'pending')",
        $ch);
    is value($fam, 'tickets_outbox_pending', channel => $ch), $pending,
        "tickets_outbox_pending{channel=$ch} is the database's ($pending)";
}
cmp_ok value($fam, 'tickets_outbox_pending', channel => 'email'), '>=', 3,
    'the three emails are pending';
cmp_ok value($fam, 'tickets_outbox_oldest_pending_age_seconds',
    channel => 'email'), '>', 0, 'the oldest pending email has an age';

# the jobs deliver the emails; the push has no URL and fails at once.  One
# pool thread: one PostgreSQL connection, whose loss and return are seen.
$t->run(jobs => 1, http_extra => $ZONE
    . "    tickets_outbox_interval 200ms;\n",
    main_extra => "thread_pool one threads=1;\n",
    server_extra => $METRICS . "        tickets_thread_pool one;\n",
    listen_extra => '');
ok wait_sql("SELECT count(*) = 0 FROM outbox WHERE status = 'pending'", 15),
    'the jobs emptied the outbox';
ok wait_sql("SELECT count(*) > 0 FROM outbox WHERE status = 'failed'"
    . " AND channel = 'push'"), 'the push failed';
ok wait_sql("SELECT count(*) >= 3 FROM outbox WHERE status = 'sent'"
    . " AND channel = 'email'"), 'the emails were sent';
$fam = scrape();
for my $ch (qw(email push subscription tpi webhook)) {
    my ($pending, $failed, $sent, $retries) = split /\|/, outbox_sql(
        "count(*) FILTER (WHERE status = 'pending'),"
        . " count(*) FILTER (WHERE status = 'failed'),"
        . " count(*) FILTER (WHERE status = 'sent'),"
        . " coalesce(sum(greatest(attempts - 1, 0)), 0)", $ch);
    is value($fam, 'tickets_outbox_pending', channel => $ch), $pending,
        "after delivery: pending{$ch} $pending";
    is value($fam, 'tickets_outbox_failed', channel => $ch), $failed,
        "after delivery: failed{$ch} $failed";
    is value($fam, 'tickets_outbox_delivered_total', channel => $ch), $sent,
        "after delivery: delivered{$ch} $sent";
    is value($fam, 'tickets_outbox_retries_total', channel => $ch),
        $retries, "after delivery: retries{$ch} $retries";
}
cmp_ok value($fam, 'tickets_outbox_failed', channel => 'push'), '>=', 1,
    'tickets_outbox_failed{channel=push} shows the failed push';
cmp_ok value($fam, 'tickets_outbox_delivered_total', channel => 'email'),
    '>=', 3, 'the emails are delivered';
cmp_ok value($fam, 'tickets_outbox_oldest_pending_age_seconds',
    channel => 'email'), '==', 0, 'nothing pending: age 0';

# the escalation job ran at start
my $deadline = time + 10;
while (time < $deadline
       && !value($fam, 'tickets_escalation_runs_total', result => 'success'))
{
    sleep 0.2;
    $fam = scrape();
}
cmp_ok value($fam, 'tickets_escalation_runs_total', result => 'success'),
    '>=', 1, 'tickets_escalation_runs_total{result="success"}';
cmp_ok abs(value($fam, 'tickets_escalation_last_success_timestamp_seconds')
    - time), '<', 60, 'tickets_escalation_last_success_timestamp_seconds: now';

# the database goes away: the scrape still answers, without the outbox
$t->stop_pg;
$fam = scrape();
is value($fam, 'tickets_outbox_up'), 0, 'database down: tickets_outbox_up 0';
ok !exists $fam->{tickets_outbox_pending}, 'database down: no outbox gauges';
$t->start_pg;
is raw(GET => "$API/1", token => $admin), 200, 'database back: a GET';
$fam = scrape();
cmp_ok value($fam, 'tickets_db_errors_total', sqlstate_class => '08'), '>',
    0, 'tickets_db_errors_total{sqlstate_class="08"} counts the lost '
    . 'connections';
cmp_ok value($fam, 'tickets_db_reconnects_total'), '>', 0,
    'tickets_db_reconnects_total counts the new ones';

done_testing;
