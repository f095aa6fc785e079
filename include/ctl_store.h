/* ctl_store: remissctl commands on the broker's store (dead letters and the
 * consent registry). Each takes the arguments after its group word and
 * returns the process exit code. */
#ifndef CTL_STORE_H
#define CTL_STORE_H

/* deadletter list --db DB [--json] | deadletter requeue --db DB MESSAGE_ID */
int ctl_deadletter_main(int argc, char **argv);

/* consent list --db DB --pki DIR --subject PNR [--json] */
int ctl_consent_main(int argc, char **argv);

#endif
