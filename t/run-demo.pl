#!/usr/bin/perl

# make run: PostgreSQL and nginx with the demo data, kept under ./var.
#
#   PORT=8080 PGPORT=5433 perl -It/lib t/run-demo.pl
#
# PostgreSQL keeps its data in var/pgdata between runs and listens on the
# unix socket in var/ and on 127.0.0.1:$PGPORT.  Migrations are applied at
# each start; the demo data is loaded once (ticketsctl load records it).
# nginx runs in the foreground; Ctrl-C stops nginx and PostgreSQL.

use strict;
use warnings;

use File::Basename qw(dirname);
use IO::Socket::INET;
use POSIX ();
use Tickets::Test;

my $root   = Tickets::Test->root;
my $var    = "$root/var";
my $port   = $ENV{PORT} || 8080;
my $pgport = $ENV{PGPORT} || 5433;
my $pgdata = "$var/pgdata";
my $db     = "host=$var port=$pgport dbname=tickets user=tickets";
my $ctl    = $Tickets::Test::CTL;

for ([$ctl, 'build/ticketsctl'], [$Tickets::Test::MODULE, 'the module']) {
    die "$_->[1] is not built: run make\n" unless -e $_->[0];
}

# PostgreSQL runs as postgres and puts its socket in var/.
mkdir $var, 0755 unless -d $var;
chmod 0755, $var;
for (my $p = $var; $p ne '/'; $p = dirname($p)) {
    die "$p is not traversable by others, which PostgreSQL needs\n"
        unless (stat $p)[2] & 01;
}
Tickets::Test::chown_postgres($var);

unless (-e "$pgdata/PG_VERSION") {
    print "initdb $pgdata\n";
    Tickets::Test::pg_init($pgdata);
}

my $pg_started = 0;
my ($st) = Tickets::Test::run_cmd([Tickets::Test::as_postgres(
    "$Tickets::Test::PGBIN/pg_ctl", 'status', '-D', $pgdata)], cwd => $var);
if ($st == 0) {
    print "PostgreSQL is already running on $pgdata; leaving it running\n";
} else {
    Tickets::Test::pg_start($pgdata, $var, $pgport, "$var/postgresql.log");
    $pg_started = 1;
}

my $nginx_pid;
my $stopping = 0;

sub shutdown_all {
    return if $stopping++;
    if ($nginx_pid) {
        kill 'QUIT', $nginx_pid;        # graceful: finish open requests
        waitpid $nginx_pid, 0;
    }
    if ($pg_started) {
        print "stopping PostgreSQL\n";
        Tickets::Test::pg_stop($pgdata);
    }
}

$SIG{INT} = $SIG{TERM} = sub { shutdown_all(); exit 0 };
END { my $rc = $?; shutdown_all(); $? = $rc }

sub psql {
    my ($sql, $dbname) = @_;
    my ($rc, $out, $err) = Tickets::Test::run_cmd([
        "$Tickets::Test::PGBIN/psql", '-X', '-q', '-At', '-h', $var,
        '-p', $pgport, '-U', 'tickets', '-d', $dbname, '-c', $sql]);
    die "psql: $sql\n$err" if $rc;
    return $out;
}

sub ctl {
    my ($rc, $out, $err) = Tickets::Test::run_cmd([$ctl, '-d', $db, @_]);
    die "ticketsctl @_ failed:\n$out$err" if $rc;
    print $out;
}

psql('CREATE DATABASE tickets', 'postgres')
    unless psql("SELECT 1 FROM pg_database WHERE datname = 'tickets'",
                'postgres') =~ /1/;
ctl('migrate', "$root/sql");
ctl('load', "$root/sql/demo/demo.sql");

my $secret = "$var/jwt.secret";
unless (-e $secret) {
    Tickets::Test::_spew($secret, Tickets::Test::random_secret(48), 0600);
}

Tickets::Test::_spew("$var/nginx.conf", Tickets::Test::nginx_conf(
    prefix => $var, port => $port, db => $db, daemon => 0, jobs => 1,
    tickets_conf => "    tickets_jwt_key HS256 $secret;\n"
        . "    tickets_jwt_signing_key $secret;\n"
        . "    tickets_token_lifetime 1h;\n"));

my @nginx = ($Tickets::Test::NGINX, '-p', "$var/", '-c', "$var/nginx.conf",
    '-e', "$var/error.log");
my ($rc, $out, $err) = Tickets::Test::run_cmd([@nginx, '-t']);
die "nginx -t failed:\n$out$err" if $rc;

# wait_port below would take another server on the port for ours
IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
    Proto => 'tcp', Listen => 1, ReuseAddr => 1)
    or die "127.0.0.1:$port is in use: set PORT\n";

$nginx_pid = fork // die "fork: $!";
if ($nginx_pid == 0) {
    exec @nginx or POSIX::_exit(127);
}

unless (Tickets::Test::wait_port($port, 10)
        && waitpid($nginx_pid, POSIX::WNOHANG()) == 0)
{
    print STDERR "nginx did not start; see $var/error.log\n";
    exit 1;
}

my $base = "http://127.0.0.1:$port";
print <<"EOF";

ngx_tickets is running on $base (logs in var/; Ctrl-C stops it).
Every demo account's password is "demo" (admin, tech1, tech2, tech3,
member1, member2, integration).

  TOKEN=\$(curl -s -d 'username=admin&password=demo' $base/api/auth/token \\
           | sed 's/.*"access_token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer \$TOKEN" $base/api/TicketsApi/1
  curl -H "Authorization: Bearer \$TOKEN" $base/api/TicketsApi/appmetadata
  curl -H "Authorization: Bearer \$TOKEN" \\
       -F Title='Printer on fire' -F Description='Smoke everywhere' \\
       -F CreatorId=00000000-0000-4000-a000-000000000005 -F SiteId=1 \\
       -F DepartmentId=1 -F TicketStatusId=1 -F TicketType=Incident \\
       $base/api/TicketsApi/register

or a token from the command line:
  build/ticketsctl -d '$db' token admin --key var/jwt.secret

EOF

my $pid = waitpid $nginx_pid, 0;
my $status = $?;
$nginx_pid = undef;
print "nginx exited", ($status ? " with status " . ($status >> 8) : ''),
    "\n" unless $stopping;
shutdown_all();
exit($status ? 1 : 0);
